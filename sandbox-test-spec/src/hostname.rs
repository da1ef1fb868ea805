//! Hostnames for the sandbox's uts namespace.

/// Checks a hostname the kernel will take: 1 to 64 bytes, no NUL, no `/`, no white space.
pub fn check_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the hostname is empty".into());
    }
    if name.len() > 64 {
        return Err(format!(
            "the hostname `{name}` is {} bytes; the kernel takes at most 64",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '\0' || *c == '/' || c.is_whitespace())
    {
        return Err(format!("the hostname `{name}` contains {c:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_and_refuses_the_rest() {
        assert_eq!(check_hostname("sandbox"), Ok(()));
        assert!(check_hostname("").is_err());
        assert!(check_hostname(&"x".repeat(65))
            .unwrap_err()
            .contains("65 bytes"));
        assert!(check_hostname("a b").is_err());
    }
}
