//! Nomad users type long flags with one dash (`-dev`, `-check-index 7`, `-config=FILE`);
//! clap wants two. Rewrite before parsing, leaving short flags, numbers and everything
//! after `--` alone.

/// Commands whose arguments end with a command line of the task's own, which must reach
/// it untouched (`container run IMAGE echo -ne x`): their path, and their flags that take
/// a value (so a value is not mistaken for the image). As Go's flag package (and so
/// Nomad) does, flags end at the first positional argument.
const TRAILING: &[(&[&str], &[&str])] = &[
    (
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
    ),
    (
        &["alloc", "exec"],
        &["task", "group", "e", "address", "namespace", "token"],
    ),
];

/// Long flags that must stay single-letter short flags are never rewritten: clap's short
/// flags are one character, so only `-xy…` (two or more letters) becomes `--xy…`.
pub fn normalise<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    let args = expand_aliases(args.into_iter().collect());
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

/// Nomad's top-level shortcuts for job commands.
const JOB_ALIASES: &[&str] = &["run", "plan", "stop", "inspect", "validate"];

/// `drover run FILE` is `drover job run FILE`, and so on for [`JOB_ALIASES`]. The
/// walkthrough also says `drover status job redis` and `drover run job FILE`: a `job`
/// word as the first argument after such a command's flags is dropped when more
/// arguments follow it (alone it is the name of a job).
fn expand_aliases(mut args: Vec<String>) -> Vec<String> {
    let Some(command) = args.get(1).cloned() else {
        return args;
    };
    // Nomad's `-v` (clap's own short flag is -V).
    if command == "-v" {
        args[1] = "--version".to_string();
        return args;
    }
    let is_alias = JOB_ALIASES.contains(&command.as_str());
    if is_alias || command == "status" {
        let first = (2..args.len()).find(|&i| !args[i].starts_with('-'));
        if let Some(i) = first.filter(|&i| args[i] == "job" && i + 1 < args.len()) {
            args.remove(i);
        }
    }
    if is_alias {
        args.insert(1, "job".to_string());
    }
    args
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
            (
                "drover alloc exec -task redis -job -it ab12 ls -la -task",
                "drover alloc exec --task redis --job --it ab12 ls -la -task",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(args(input)), args(want), "{input}");
        }
    }

    #[test]
    fn aliases_and_the_walkthroughs_phrasing() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let cases = [
            (
                "drover run jobs/redis.nomad",
                "drover job run jobs/redis.nomad",
            ),
            ("drover run job redis.nomad", "drover job run redis.nomad"),
            (
                "drover run -detach -check-index 7 f",
                "drover job run --detach --check-index 7 f",
            ),
            ("drover plan f.nomad", "drover job plan f.nomad"),
            ("drover plan job f.nomad", "drover job plan f.nomad"),
            ("drover stop -purge redis", "drover job stop --purge redis"),
            ("drover stop job redis", "drover job stop redis"),
            ("drover inspect redis", "drover job inspect redis"),
            ("drover validate f.nomad", "drover job validate f.nomad"),
            ("drover status", "drover status"),
            ("drover status redis", "drover status redis"),
            ("drover status job redis", "drover status redis"),
            // Alone, `job` is a job's name.
            ("drover status job", "drover status job"),
            ("drover stop job", "drover job stop job"),
            ("drover status -verbose job", "drover status --verbose job"),
            (
                "drover status -verbose job redis",
                "drover status --verbose redis",
            ),
            (
                "drover run -detach job f.nomad",
                "drover job run --detach f.nomad",
            ),
            // Only as the first argument, and not under `job`.
            (
                "drover run -var x=1 job f",
                "drover job run --var x=1 job f",
            ),
            ("drover status redis job", "drover status redis job"),
            ("drover job status job", "drover job status job"),
            ("drover job run job.nomad", "drover job run job.nomad"),
            ("drover", "drover"),
            ("drover -v", "drover --version"),
            ("drover -version", "drover --version"),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(args(input)), args(want), "{input}");
        }
    }
}
