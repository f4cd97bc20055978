//! Spelling tolerance: the edit distance between two words, a cheap letter-set
//! filter before it, and how many typos a word of a given length may have.

/// Optimal string alignment distance (Levenshtein plus adjacent transposition), or
/// `None` as soon as it must exceed `max`. Works on bytes: words are folded first.
pub(crate) fn bounded_distance(a: &[u8], b: &[u8], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    // Three rolling rows: the transposition needs the row before the previous one.
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

/// Bit set of the letters in a word: two words within edit distance `d` differ in at
/// most `2d` letters of this set, a cheap filter before the real distance.
pub(crate) fn letter_mask(word: &[u8]) -> u64 {
    word.iter().fold(0u64, |m, &c| m | (1u64 << (c % 64)))
}

/// Largest edit distance tolerated for a word of `len` bytes: short words are
/// often abbreviations (HTN, COPD), where one letter changes the meaning.
pub(crate) fn max_typos(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5 => 1,
        6..=12 => 2,
        _ => 3,
    }
}
