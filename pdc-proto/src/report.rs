//! How both binaries print a failure: the error and its causes on one line.

/// The error and its causes (`source()` chain) on one line, each said once: many of
/// our errors already quote their source in their own message, which `{:#}` would
/// print a second time. Shared so `pdc-daemon` and `pdc` word failures alike.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug)]
    struct Leaf;
    impl std::fmt::Display for Leaf {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("disk full")
        }
    }
    impl std::error::Error for Leaf {}

    #[derive(Debug)]
    struct Outer(Leaf, &'static str);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.1)
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_is_added_once_and_only_if_not_already_quoted() {
        assert_eq!(
            error_chain(&Outer(Leaf, "cannot write")),
            "cannot write: disk full"
        );
        assert_eq!(
            error_chain(&Outer(Leaf, "cannot write: disk full")),
            "cannot write: disk full"
        );
    }
}
