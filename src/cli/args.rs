//! Nomad users type long flags with one dash (`-dev`, `-check-index 7`, `-config=FILE`);
//! clap wants two. Rewrite before parsing, leaving short flags, numbers and everything
//! after `--` alone.

/// Long flags that must stay single-letter short flags are never rewritten: clap's short
/// flags are one character, so only `-xy…` (two or more letters) becomes `--xy…`.
pub fn normalise<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || passthrough {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let rest = arg.strip_prefix('-').unwrap_or("");
        let name = rest.split('=').next().unwrap_or("");
        let is_long = !rest.starts_with('-')
            && name.len() > 1
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        out.push(if is_long { format!("-{arg}") } else { arg });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let cases = [
            ("drover agent -dev", "drover agent --dev"),
            (
                "drover job run -check-index 7 f",
                "drover job run --check-index 7 f",
            ),
            ("drover agent -config=a.hcl", "drover agent --config=a.hcl"),
            ("drover alloc logs -f -n 5 x", "drover alloc logs -f -n 5 x"),
            ("drover x --already -1", "drover x --already -1"),
            ("drover exec a -- sh -c true", "drover exec a -- sh -c true"),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(args(input)), args(want), "{input}");
        }
    }
}
