//! Folding: one spelling per word whatever the case, the diacritics or a
//! possessive "'s", so that both sides of the index compare the same forms.

/// Lowercases and removes diacritics so "Ménière" and "meniere" are one word;
/// "'s" is dropped so "Alzheimer's" and "Alzheimers" meet after stemming.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' || c == '’' || c == '`' {
            // Possessive: drop "'s" when it ends the word.
            let mut look = chars.clone();
            if matches!(look.next(), Some('s') | Some('S'))
                && look.next().is_none_or(|n| !n.is_alphanumeric())
            {
                chars.next();
            }
            continue;
        }
        for l in c.to_lowercase() {
            match fold_char(l) {
                Some(s) => out.push_str(s),
                None => out.push(l),
            }
        }
    }
    out
}

fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ś' | 'š' | 'ş' => "s",
        'ź' | 'ż' | 'ž' => "z",
        'ł' => "l",
        'ř' => "r",
        'ť' => "t",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'α' => "alpha",
        'β' => "beta",
        _ => return None,
    })
}
