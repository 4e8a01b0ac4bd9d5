//! IP leases: one file per leased address, `<state>/leases/<ip>`, holding the
//! allocation ID. Taking a lease is an exclusive create, so two setups (threads or
//! processes) never get the same address, and leases survive agent restarts.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::error::NetworkError;

pub(crate) struct Leases {
    dir: PathBuf,
    /// First and last address that may be leased (the gateway and broadcast excluded).
    first: u32,
    last: u32,
    subnet: String,
}

impl Leases {
    pub(crate) fn new(dir: PathBuf, network: Ipv4Addr, prefix: u8) -> Self {
        let base = u32::from(network);
        let size = 1u32 << (32 - prefix as u32);
        Leases {
            dir,
            first: base + 2,
            last: base + size - 2,
            subnet: format!("{network}/{prefix}"),
        }
    }

    pub(crate) fn owns(&self, alloc_id: &str) -> Result<bool, NetworkError> {
        Ok(self.find(alloc_id)?.is_some())
    }

    /// The address leased to `alloc_id`, if any.
    pub(crate) fn find(&self, alloc_id: &str) -> Result<Option<Ipv4Addr>, NetworkError> {
        Ok(self
            .all()?
            .into_iter()
            .find(|(_, owner)| owner == alloc_id)
            .map(|(ip, _)| ip))
    }

    /// Every lease: (address, allocation ID).
    pub(crate) fn all(&self) -> Result<Vec<(Ipv4Addr, String)>, NetworkError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NetworkError::file("lease directory", &self.dir, e)),
        };
        let mut leases = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| NetworkError::file("lease directory", &self.dir, e))?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue; // temporary or foreign file
            };
            match fs::read_to_string(entry.path()) {
                Ok(owner) => leases.push((ip, owner.trim().to_string())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // released meanwhile
                Err(e) => return Err(NetworkError::file("lease", entry.path(), e)),
            }
        }
        Ok(leases)
    }

    /// Leases the lowest free address to `alloc_id` (or returns the one it has).
    pub(crate) fn acquire(&self, alloc_id: &str) -> Result<Ipv4Addr, NetworkError> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| NetworkError::file("lease directory", &self.dir, e))?;
        let leases = self.all()?;
        if let Some((ip, _)) = leases.iter().find(|(_, owner)| owner == alloc_id) {
            return Ok(*ip);
        }
        let taken: std::collections::HashSet<u32> =
            leases.iter().map(|(ip, _)| u32::from(*ip)).collect();
        for n in (self.first..=self.last).filter(|n| !taken.contains(n)) {
            let ip = Ipv4Addr::from(n);
            match self.try_take(ip, alloc_id) {
                Ok(()) => return Ok(ip),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue, // lost a race
                Err(source) => {
                    return Err(NetworkError::Lease {
                        ip,
                        alloc_id: alloc_id.to_string(),
                        source,
                    })
                }
            }
        }
        Err(NetworkError::SubnetFull {
            subnet: self.subnet.clone(),
            alloc_id: alloc_id.to_string(),
        })
    }

    fn try_take(&self, ip: Ipv4Addr, alloc_id: &str) -> io::Result<()> {
        let path = self.dir.join(ip.to_string());
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        // The owner is written after the exclusive create: a crash in between leaves an
        // empty lease, which `release_orphans` in reconcile treats as nobody's.
        let written = file
            .write_all(alloc_id.as_bytes())
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(())
    }

    /// Releases every lease of `alloc_id`; none is fine.
    pub(crate) fn release(&self, alloc_id: &str) -> Result<(), NetworkError> {
        for (ip, owner) in self.all()? {
            if owner == alloc_id {
                remove(&self.dir.join(ip.to_string()))?;
            }
        }
        Ok(())
    }

    /// Releases leases with no owner written (a crash between create and write) that
    /// are older than a minute, so a setup writing its owner right now keeps its lease.
    pub(crate) fn release_empty(&self) -> Result<(), NetworkError> {
        for (ip, owner) in self.all()? {
            let path = self.dir.join(ip.to_string());
            let age = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if owner.is_empty() && age.is_some_and(|a| a.as_secs() > 60) {
                remove(&path)?;
            }
        }
        Ok(())
    }
}

fn remove(path: &Path) -> Result<(), NetworkError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetworkError::file("lease", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_unique_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let leases = Leases::new(dir.path().join("leases"), Ipv4Addr::new(10, 9, 0, 0), 29);
        // /29: .0 network, .1 gateway, .7 broadcast: .2 ..= .6 are leasable.
        let got: Vec<Ipv4Addr> = (0..5)
            .map(|i| leases.acquire(&format!("a{i}")).unwrap())
            .collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(got[4], Ipv4Addr::new(10, 9, 0, 6));
        assert!(matches!(
            leases.acquire("a5"),
            Err(NetworkError::SubnetFull { .. })
        ));
        // Asking again returns the same lease.
        assert_eq!(leases.acquire("a3").unwrap(), got[3]);
        leases.release("a1").unwrap();
        assert_eq!(leases.find("a1").unwrap(), None);
        assert_eq!(leases.acquire("a6").unwrap(), got[1]);
        leases.release("nobody").unwrap();
    }
}
