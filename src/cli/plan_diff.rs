//! The job diff as `job plan` and `job history -p` print it (Nomad's layout, no colour):
//! `+`/`-`/`+/-` markers, names aligned past the widest marker of their siblings, field
//! values quoted the way Go's `%q` does.

use std::fmt::Write;

use drover::structs::diff::{DiffType, FieldDiff, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff};

/// The diff text, trimmed. Without `verbose`, the job's and groups' own fields show only
/// when they are edited, and added or deleted groups and tasks are one line each.
pub fn format_job_diff(diff: &JobDiff, verbose: bool) -> String {
    let mut out = format!("{}Job: {}\n", marker(diff.diff_type), go_quote(&diff.id));
    let (longest_field, mut longest_marker) = longest_prefixes(&diff.fields, &diff.objects);
    for group in &diff.task_groups {
        longest_marker = longest_marker.max(marker(group.diff_type).len());
    }
    if diff.diff_type == DiffType::Edited || verbose {
        let fo = fields_and_objects(
            &diff.fields,
            &diff.objects,
            0,
            longest_field,
            longest_marker,
        );
        if !fo.is_empty() {
            out.push_str(&fo);
            out.push('\n');
        }
    }
    for group in &diff.task_groups {
        let pad = longest_marker - marker(group.diff_type).len();
        out.push_str(&format_group(group, pad, verbose));
        out.push('\n');
    }
    out.trim().to_string()
}

fn format_group(group: &TaskGroupDiff, pad: usize, verbose: bool) -> String {
    let mut out = format!(
        "{}{}Task Group: {}",
        marker(group.diff_type),
        spaces(pad),
        go_quote(&group.name)
    );
    if !group.updates.is_empty() {
        // BTreeMap order is the alphabetical order Nomad sorts the types into.
        let counts: Vec<String> = group
            .updates
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        let _ = write!(out, " ({})", counts.join(", "));
    }
    out.push('\n');

    let (longest_field, mut longest_marker) = longest_prefixes(&group.fields, &group.objects);
    for task in &group.tasks {
        longest_marker = longest_marker.max(marker(task.diff_type).len());
    }
    let start = pad + 2;
    if group.diff_type == DiffType::Edited || verbose {
        let fo = fields_and_objects(
            &group.fields,
            &group.objects,
            start,
            longest_field,
            longest_marker,
        );
        if !fo.is_empty() {
            out.push_str(&fo);
            out.push('\n');
        }
    }
    for task in &group.tasks {
        let task_pad = longest_marker - marker(task.diff_type).len();
        out.push_str(&format_task(task, start, task_pad, verbose));
        out.push('\n');
    }
    out
}

fn format_task(task: &TaskDiff, start: usize, pad: usize, verbose: bool) -> String {
    let mut out = format!(
        "{}{}{}Task: {}",
        spaces(start),
        marker(task.diff_type),
        spaces(pad),
        go_quote(&task.name)
    );
    if !task.annotations.is_empty() {
        let _ = write!(out, " ({})", task.annotations.join(", "));
    }
    let collapsed = matches!(task.diff_type, DiffType::Added | DiffType::Deleted) && !verbose;
    if task.diff_type == DiffType::None || collapsed {
        return out;
    }
    out.push('\n');
    let (longest_field, longest_marker) = longest_prefixes(&task.fields, &task.objects);
    out.push_str(&fields_and_objects(
        &task.fields,
        &task.objects,
        start + 2,
        longest_field,
        longest_marker,
    ));
    out
}

fn format_object(object: &ObjectDiff, start: usize, pad: usize) -> String {
    let m = marker(object.diff_type);
    let mut out = format!("{}{m}{}{} {{\n", spaces(start), spaces(pad), object.name);
    let (longest_field, longest_marker) = longest_prefixes(&object.fields, &object.objects);
    out.push_str(&fields_and_objects(
        &object.fields,
        &object.objects,
        start + pad + 2,
        longest_field,
        longest_marker,
    ));
    // The brace lines up under the object's name.
    let _ = write!(out, "\n{}}}", spaces(start + m.len() + pad));
    out
}

fn format_field(field: &FieldDiff, start: usize, pad: usize, value_pad: usize) -> String {
    let mut out = format!(
        "{}{}{}{}: {}",
        spaces(start),
        marker(field.diff_type),
        spaces(pad),
        field.name,
        spaces(value_pad)
    );
    match field.diff_type {
        DiffType::Added => out.push_str(&go_quote(&field.new)),
        DiffType::Deleted => out.push_str(&go_quote(&field.old)),
        DiffType::Edited => {
            let _ = write!(out, "{} => {}", go_quote(&field.old), go_quote(&field.new));
        }
        DiffType::None => out.push_str(&go_quote(&field.new)),
    }
    if !field.annotations.is_empty() {
        let _ = write!(out, " ({})", field.annotations.join(", "));
    }
    out
}

/// Fields (values aligned) then objects, one per line, without a trailing newline.
fn fields_and_objects(
    fields: &[FieldDiff],
    objects: &[ObjectDiff],
    start: usize,
    longest_field: usize,
    longest_marker: usize,
) -> String {
    let mut lines: Vec<String> = fields
        .iter()
        .map(|f| {
            let pad = longest_marker - marker(f.diff_type).len();
            format_field(f, start, pad, longest_field - f.name.len())
        })
        .collect();
    lines.extend(objects.iter().map(|o| {
        let pad = longest_marker - marker(o.diff_type).len();
        format_object(o, start, pad)
    }));
    lines.join("\n")
}

/// The longest field name (bytes, as Go's `len`) and the widest marker at one level.
fn longest_prefixes(fields: &[FieldDiff], objects: &[ObjectDiff]) -> (usize, usize) {
    let longest_field = fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let longest_marker = fields
        .iter()
        .map(|f| f.diff_type)
        .chain(objects.iter().map(|o| o.diff_type))
        .map(|t| marker(t).len())
        .max()
        .unwrap_or(0);
    (longest_field, longest_marker)
}

fn marker(t: DiffType) -> &'static str {
    match t {
        DiffType::Added => "+ ",
        DiffType::Deleted => "- ",
        DiffType::Edited => "+/- ",
        DiffType::None => "",
    }
}

fn spaces(n: usize) -> String {
    " ".repeat(n)
}

/// Go's `strconv.Quote`: double quotes, escapes for quotes, backslashes and
/// non-printable characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') || c == '\u{feff}' => {
                if (c as u32) <= 0xffff {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover::structs::diff::{annotate_updates, job_diff, DesiredUpdates};
    use drover::structs::{Job, Service, Task, TaskGroup};
    use serde_json::json;

    use super::*;

    fn redis(id: &str) -> Job {
        let mut job = Job {
            id: id.into(),
            datacenters: vec!["dc1".into()],
            task_groups: vec![TaskGroup {
                name: "cache".into(),
                tasks: vec![Task {
                    name: "redis".into(),
                    driver: "docker".into(),
                    config: json!({"image": "redis:3.2", "ports": ["db"]})
                        .as_object()
                        .cloned()
                        .unwrap(),
                    services: vec![Service {
                        name: "redis-cache".into(),
                        port_label: "db".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        job.canonicalize();
        job
    }

    /// The plan's text for `old` -> `new` with the scheduler's counts for group "cache".
    fn plan(old: Option<&Job>, new: &Job, updates: DesiredUpdates, verbose: bool) -> String {
        let mut diff = job_diff(old, new, true);
        annotate_updates(&mut diff, &BTreeMap::from([("cache".to_string(), updates)]));
        format_job_diff(&diff, verbose)
    }

    #[test]
    fn image_change() {
        let old = redis("example");
        let mut new = old.clone();
        new.task_groups[0].tasks[0].config["image"] = json!("redis:4.0");
        let updates = DesiredUpdates {
            destructive_update: 1,
            ignore: 2,
            ..Default::default()
        };
        let want = r#"+/- Job: "example"
+/- Task Group: "cache" (1 create/destroy update, 2 ignore)
  +/- Task: "redis" (forces create/destroy update)
    +/- Config {
      +/- image:    "redis:3.2" => "redis:4.0"
          ports[0]: "db"
        }"#;
        assert_eq!(plan(Some(&old), &new, updates, false), want);
    }

    #[test]
    fn new_job() {
        let updates = DesiredUpdates {
            place: 1,
            ..Default::default()
        };
        let want = r#"+ Job: "redis"
+ Task Group: "cache" (1 create)
  + Task: "redis" (forces create)"#;
        assert_eq!(plan(None, &redis("redis"), updates, false), want);
    }

    #[test]
    fn count_only() {
        let old = redis("example");
        let mut new = old.clone();
        new.task_groups[0].count = Some(2);
        let updates = DesiredUpdates {
            place: 1,
            in_place_update: 1,
            ..Default::default()
        };
        let want = r#"+/- Job: "example"
+/- Task Group: "cache" (1 create, 1 in-place update)
  +/- Count: "1" => "2" (forces create)
      Task: "redis""#;
        assert_eq!(plan(Some(&old), &new, updates, false), want);
    }

    #[test]
    fn unchanged() {
        let job = redis("example");
        let updates = DesiredUpdates {
            ignore: 1,
            ..Default::default()
        };
        let want = "Job: \"example\"\nTask Group: \"cache\" (1 ignore)\n  Task: \"redis\"";
        assert_eq!(plan(Some(&job), &job, updates, false), want);
    }

    #[test]
    fn job_fields_and_in_place_task() {
        let old = redis("example");
        let mut new = old.clone();
        new.meta.insert("owner".into(), "ops".into());
        new.priority = 70;
        new.task_groups[0].tasks[0].kill_timeout = 10_000_000_000;
        let updates = DesiredUpdates {
            in_place_update: 1,
            ..Default::default()
        };
        let want = r#"+/- Job: "example"
+   Meta[owner]: "ops"
+/- Priority:    "50" => "70"
+/- Task Group: "cache" (1 in-place update)
  +/- Task: "redis" (forces in-place update)
    +/- KillTimeout: "5000000000" => "10000000000""#;
        assert_eq!(plan(Some(&old), &new, updates, false), want);
    }

    #[test]
    fn added_task_and_group_collapse_unless_verbose() {
        let old = redis("example");
        let mut new = old.clone();
        let mut web = new.task_groups[0].clone();
        web.name = "web".into();
        web.tasks[0].name = "nginx".into();
        web.tasks[0].services.clear();
        web.tasks[0].config = json!({"image": "nginx"}).as_object().cloned().unwrap();
        new.task_groups.push(web);
        let diff = job_diff(Some(&old), &new, true);
        // Unchanged names line up after the widest sibling marker; groups are
        // separated by a blank line.
        let want = r#"+/- Job: "example"
  Task Group: "cache"
    Task: "redis"

+ Task Group: "web"
  + Task: "nginx" (forces create)"#;
        assert_eq!(format_job_diff(&diff, false), want);

        // Verbose expands the new group and task down to their objects' fields.
        let verbose = format_job_diff(&diff, true);
        for part in [
            "\n  + Count:                   \"1\" (forces create)\n",
            "\n  + PreventRescheduleOnLost: \"false\"\n  + RestartPolicy {\n",
            "\n  + Task: \"nginx\" (forces create)\n    + Driver:        \"docker\"\n",
            "\n    + Config {\n      + image: \"nginx\"\n      }\n",
        ] {
            assert!(verbose.contains(part), "{part:?} not in\n{verbose}");
        }
    }

    #[test]
    fn deleted_objects_and_nested_alignment() {
        let diff = JobDiff {
            diff_type: DiffType::Edited,
            id: "j".into(),
            task_groups: vec![TaskGroupDiff {
                diff_type: DiffType::Edited,
                name: "g".into(),
                tasks: vec![TaskDiff {
                    diff_type: DiffType::Edited,
                    name: "t".into(),
                    objects: vec![ObjectDiff {
                        diff_type: DiffType::Edited,
                        name: "Service".into(),
                        fields: vec![FieldDiff {
                            name: "Name".into(),
                            old: "web".into(),
                            new: "web".into(),
                            ..Default::default()
                        }],
                        objects: vec![ObjectDiff {
                            diff_type: DiffType::Deleted,
                            name: "Tags".into(),
                            fields: vec![FieldDiff {
                                diff_type: DiffType::Deleted,
                                name: "Tags".into(),
                                old: "a\"b\n".into(),
                                ..Default::default()
                            }],
                            objects: Vec::new(),
                        }],
                    }],
                    annotations: vec!["forces in-place update".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let want = r#"+/- Job: "j"
+/- Task Group: "g"
  +/- Task: "t" (forces in-place update)
    +/- Service {
        Name: "web"
      - Tags {
        - Tags: "a\"b\n"
        }
        }"#;
        assert_eq!(format_job_diff(&diff, false), want);
    }

    #[test]
    fn quoting_matches_go() {
        for (s, want) in [
            ("redis:4.0", r#""redis:4.0""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("tab\there\n", r#""tab\there\n""#),
            ("\u{1}\u{7f}", r#""\x01\x7f""#),
            ("\u{a0}é", r#""\u00a0é""#),
        ] {
            assert_eq!(go_quote(s), want, "{s:?}");
        }
    }
}
