//! Resolving a task's `user` from the image's own /etc/passwd and /etc/group, read as
//! plain files: never through the host's NSS, which could load libraries from the image
//! into a root process (CVE-2019-14271).

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups the user is a member of in /etc/group.
    pub groups: Vec<u32>,
    pub home: String,
    pub name: Option<String>,
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn passwd(root: &Path) -> Vec<Passwd> {
    let text = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Passwd {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

fn groups(root: &Path) -> Vec<(String, u32, Vec<String>)> {
    let text = std::fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            let members = f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect()
}

/// Resolves `spec` (`""`, `uid`, `uid:gid`, `name`, `name:group`) against the files under
/// `root` (the task's `/`). Unknown names are an error; unknown numeric ids are fine, as
/// in Docker (gid 0 when there is no passwd entry).
pub fn resolve(root: &Path, spec: &str) -> Result<User, String> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = passwd(root);
    let entry =
        if user_part.is_empty() {
            users.iter().find(|p| p.uid == 0)
        } else if let Ok(uid) = user_part.parse::<u32>() {
            users.iter().find(|p| p.uid == uid)
        } else {
            Some(users.iter().find(|p| p.name == user_part).ok_or_else(|| {
                format!("user {user_part:?} not found in the image's /etc/passwd")
            })?)
        };
    let uid = match (user_part.parse::<u32>(), entry) {
        (Ok(uid), _) => uid,
        (_, Some(p)) => p.uid,
        (_, None) => 0,
    };
    let all_groups = groups(root);
    let gid = match group_part {
        None => entry.map_or(0, |p| p.gid),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => all_groups
                .iter()
                .find(|(name, _, _)| name == g)
                .map(|(_, gid, _)| *gid)
                .ok_or_else(|| format!("group {g:?} not found in the image's /etc/group"))?,
        },
    };
    let name = entry.map(|p| p.name.clone());
    let mut groups: Vec<u32> = match &name {
        Some(n) => all_groups
            .iter()
            .filter(|(_, _, members)| members.contains(n))
            .map(|(_, gid, _)| *gid)
            .collect(),
        None => Vec::new(),
    };
    groups.retain(|g| *g != gid);
    Ok(User {
        uid,
        gid,
        groups,
        home: entry.map_or_else(|| "/".to_string(), |p| p.home.clone()),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_and_ids_from_the_image_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nredis:x:999:999::/data:/bin/false\nbroken line\nnobody:x:65534:65534:n:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nredis:x:999:\nwheel:x:10:redis,other\nnogroup:x:65534:\n",
        )
        .unwrap();
        let r = |s: &str| resolve(dir.path(), s);
        assert_eq!(r("").unwrap().uid, 0);
        let redis = r("redis").unwrap();
        assert_eq!(
            (
                redis.uid,
                redis.gid,
                redis.groups.clone(),
                redis.home.as_str()
            ),
            (999, 999, vec![10], "/data")
        );
        assert_eq!(r("999").unwrap().name.as_deref(), Some("redis"));
        let odd = r("1234:5678").unwrap();
        assert_eq!((odd.uid, odd.gid, odd.name), (1234, 5678, None));
        assert_eq!(r("4242").unwrap().gid, 0);
        assert_eq!(r("nobody:wheel").unwrap().gid, 10);
        assert!(r("ghost")
            .unwrap_err()
            .contains("\"ghost\" not found in the image's /etc/passwd"));
        assert!(r("redis:ghosts").unwrap_err().contains("group \"ghosts\""));
    }
}
