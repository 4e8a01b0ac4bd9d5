//! Nomad users type long flags with one dash (`-dev`, `-check-index 7`, `-config=FILE`);
//! clap wants two. Rewrite before parsing, leaving short flags, numbers and everything
//! after `--` alone.

/// Commands whose arguments end with a command line of the task's own, which must reach
/// it untouched (`container run IMAGE echo -ne x`): their path, and their flags that take
/// a value (so a value is not mistaken for the image). As Go's flag package (and so
/// Nomad) does, flags end at the first positional argument.
const TRAILING: &[(&[&str], &[&str])] = &[(
    &["container", "run"],
    &[
        "memory",
        "cpu",
        "pids",
        "net",
        "user",
        "workdir",
        "env",
        "e",
        "entrypoint",
        "data-dir",
        "registry-mirror",
        "insecure-registry",
    ],
)];

/// Long flags that must stay single-letter short flags are never rewritten: clap's short
/// flags are one character, so only `-xy…` (two or more letters) becomes `--xy…`.
pub fn normalise<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    let args: Vec<String> = args.into_iter().collect();
    let trailing = TRAILING.iter().find(|(path, _)| {
        args.len() > path.len()
            && args[1..=path.len()]
                .iter()
                .zip(path.iter())
                .all(|(a, p)| a == p)
    });
    let mut out = Vec::new();
    let mut passthrough = false;
    let mut expect_value = false;
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
        if let Some((path, value_flags)) = trailing {
            if i > path.len() {
                if expect_value {
                    expect_value = false;
                    out.push(arg);
                    continue;
                }
                if !arg.starts_with('-') {
                    // The image: what follows is the task's own command line.
                    passthrough = true;
                    out.push(arg);
                    continue;
                }
                let name = arg.trim_start_matches('-');
                expect_value = !name.contains('=') && value_flags.contains(&name);
            }
        }
        out.push(rewrite(arg));
    }
    out
}

fn rewrite(arg: String) -> String {
    let rest = arg.strip_prefix('-').unwrap_or("");
    let name = rest.split('=').next().unwrap_or("");
    let is_long = !rest.starts_with('-')
        && name.len() > 1
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if is_long {
        format!("-{arg}")
    } else {
        arg
    }
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
            (
                "drover container run -memory 32 -e A=1 -detach busybox echo -ne -data-dir",
                "drover container run --memory 32 -e A=1 --detach busybox echo -ne -data-dir",
            ),
            (
                "drover container run -data-dir=/d busybox ls -la",
                "drover container run --data-dir=/d busybox ls -la",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(args(input)), args(want), "{input}");
        }
    }
}
