//! Turns the CMS ICD-10-CM tabular XML into the compact TSV embedded as
//! `icd10cm.tsv`.
//!
//! The file is line oriented so that a regenerated copy diffs cleanly against the
//! committed one. After a `#` header line, each line is
//! `kind<TAB>code<TAB>title[<TAB>term|term|...]` where `kind` is `C` (chapter),
//! `B` (block) or a digit giving the depth of a `<diag>` below its block
//! (1 = category, 2 = first subcategory level, ...). Lines appear in XML order, so
//! the hierarchy is recovered with a stack when the file is loaded. Terms are the
//! `<inclusionTerm>` notes plus the short `<includes>` notes of the code.

use super::SearchError;

/// First line of the generated file; the loader checks it so that a stray file of
/// another shape is refused instead of half-parsed.
pub(crate) const HEADER: &str = "#icd10cm-tsv v1\tkind\tcode\ttitle\tterms";

/// Longest `<includes>` note kept: longer ones are coding instructions, not names.
const MAX_INCLUDES_NOTE: usize = 80;

pub(super) fn generate(xml: &str) -> Result<String, SearchError> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| SearchError::Terminology(format!("XML does not parse: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "ICD10CM.tabular" {
        return Err(SearchError::Terminology(format!(
            "root element is <{}>, expected <ICD10CM.tabular>: is this the CMS tabular list?",
            root.tag_name().name()
        )));
    }
    let mut out = String::with_capacity(4 << 20);
    out.push_str(HEADER);
    out.push('\n');
    let mut chapters = 0usize;
    let mut diags = 0usize;
    for chapter in children(root, "chapter") {
        chapters += 1;
        let desc = child_text(chapter, "desc").unwrap_or_default();
        let (title, range) = split_range(&desc);
        let id = range.ok_or_else(|| {
            SearchError::Terminology(format!("chapter '{desc}' has no (A00-B99) code range"))
        })?;
        push_line(&mut out, "C", &id, &title, &[]);
        for section in children(chapter, "section") {
            let id = section.attribute("id").ok_or_else(|| {
                SearchError::Terminology(format!("a <section> of chapter {id} has no id"))
            })?;
            let desc = child_text(section, "desc").unwrap_or_default();
            let (title, _) = split_range(&desc);
            push_line(&mut out, "B", id, &title, &[]);
            for diag in children(section, "diag") {
                diags += write_diag(&mut out, diag, 1)?;
            }
        }
    }
    if chapters == 0 || diags == 0 {
        return Err(SearchError::Terminology(
            "no <chapter>/<diag> elements found: is this the CMS tabular list?".into(),
        ));
    }
    Ok(out)
}

fn write_diag(
    out: &mut String,
    diag: roxmltree::Node<'_, '_>,
    depth: usize,
) -> Result<usize, SearchError> {
    let code = child_text(diag, "name")
        .ok_or_else(|| SearchError::Terminology("a <diag> has no <name>".into()))?;
    let title = child_text(diag, "desc").unwrap_or_default();
    let mut terms: Vec<String> = Vec::new();
    for group in children(diag, "inclusionTerm") {
        terms.extend(children(group, "note").filter_map(node_text));
    }
    for group in children(diag, "includes") {
        // Long notes and notes citing other codes are coding rules, not synonyms.
        terms.extend(
            children(group, "note")
                .filter_map(node_text)
                .filter(|n| n.len() <= MAX_INCLUDES_NOTE && !cites_code(n)),
        );
    }
    terms.retain(|t| !t.eq_ignore_ascii_case(&title));
    let kind = depth.to_string();
    push_line(out, &kind, &code, &title, &terms);
    let mut n = 1;
    for child in children(diag, "diag") {
        n += write_diag(out, child, depth + 1)?;
    }
    Ok(n)
}

fn children<'a, 'input: 'a>(
    node: roxmltree::Node<'a, 'input>,
    tag: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'input>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == tag)
}

fn child_text(node: roxmltree::Node<'_, '_>, tag: &'static str) -> Option<String> {
    children(node, tag).next().and_then(node_text)
}

/// Text of an element with whitespace collapsed and the characters the TSV uses as
/// separators replaced, so every field stays on one line.
fn node_text(node: roxmltree::Node<'_, '_>) -> Option<String> {
    let raw: String = node
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    let clean = raw
        .split(|c: char| c.is_whitespace() || c == '|')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!clean.is_empty()).then_some(clean)
}

/// Splits "Neoplasms (C00-D49)" into ("Neoplasms", Some("C00-D49")).
fn split_range(desc: &str) -> (String, Option<String>) {
    if let Some(open) = desc.rfind(" (") {
        let tail = &desc[open + 2..];
        if let Some(range) = tail.strip_suffix(')') {
            // "(A00-B99)" for most, "(C50)" for one-category blocks.
            let code_like = range.len() <= 9
                && !range.contains(' ')
                && range.starts_with(|c: char| c.is_ascii_uppercase());
            if code_like {
                return (desc[..open].to_string(), Some(range.to_string()));
            }
        }
    }
    (desc.to_string(), None)
}

/// True when a note refers to another code such as "(I50.-)" or "I51.4-I51.7".
fn cites_code(note: &str) -> bool {
    let b = note.as_bytes();
    b.windows(3).any(|w| {
        w[0].is_ascii_uppercase()
            && w[1].is_ascii_digit()
            && (w[2].is_ascii_digit() || w[2] == b'A')
    })
}

fn push_line(out: &mut String, kind: &str, code: &str, title: &str, terms: &[String]) {
    out.push_str(kind);
    out.push('\t');
    out.push_str(code);
    out.push('\t');
    out.push_str(title);
    if !terms.is_empty() {
        out.push('\t');
        out.push_str(&terms.join("|"));
    }
    out.push('\n');
}
