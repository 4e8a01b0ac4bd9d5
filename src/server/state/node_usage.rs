//! What the live allocations on each node hold, kept up to date as allocations are
//! written: a scheduler (or the plan applier) reads a node's usage in one lookup instead
//! of visiting every allocation on the node, which at thousands of nodes and tens of
//! allocations each is most of the cost of a placement.

use imbl::OrdMap;

use crate::structs::Allocation;

/// The sum over a node's non-terminal allocations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAllocated {
    /// MHz.
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    /// Host ports held, sorted; a port appears twice when two allocations hold it.
    pub ports: Vec<u16>,
}

impl NodeAllocated {
    fn apply(&mut self, alloc: &Allocation, add: bool) {
        let Some(res) = &alloc.allocated_resources else {
            return;
        };
        let sign = if add { 1 } else { -1 };
        self.cpu += sign * res.cpu();
        self.memory_mb += sign * res.memory_mb();
        self.disk_mb += sign * res.shared.disk_mb;
        for port in res.host_ports().filter_map(|p| u16::try_from(p).ok()) {
            let at = self.ports.partition_point(|p| *p < port);
            if add {
                self.ports.insert(at, port);
            } else if self.ports.get(at) == Some(&port) {
                self.ports.remove(at);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.cpu == 0 && self.memory_mb == 0 && self.disk_mb == 0 && self.ports.is_empty()
    }
}

fn holds(alloc: &Allocation) -> bool {
    !alloc.terminal() && alloc.allocated_resources.is_some()
}

/// Moves `old`'s claim (if it had one) to `new`'s.
pub(super) fn track(
    usage: &mut OrdMap<String, NodeAllocated>,
    old: Option<&Allocation>,
    new: &Allocation,
) {
    if let Some(old) = old.filter(|o| holds(o)) {
        if holds(new)
            && old.node_id == new.node_id
            && old.allocated_resources == new.allocated_resources
        {
            return;
        }
        change(usage, old, false);
    }
    if holds(new) {
        change(usage, new, true);
    }
}

fn change(usage: &mut OrdMap<String, NodeAllocated>, alloc: &Allocation, add: bool) {
    let mut entry = usage.get(&alloc.node_id).cloned().unwrap_or_default();
    entry.apply(alloc, add);
    if entry.is_empty() {
        usage.remove(&alloc.node_id);
    } else {
        usage.insert(alloc.node_id.clone(), entry);
    }
}

/// The table from scratch (loading a snapshot file).
pub(super) fn rebuild<'a>(
    allocs: impl IntoIterator<Item = &'a Allocation>,
) -> OrdMap<String, NodeAllocated> {
    let mut usage = OrdMap::new();
    for alloc in allocs.into_iter().filter(|a| holds(a)) {
        change(&mut usage, alloc, true);
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{
        AllocatedPortMapping, AllocatedResources, AllocatedSharedResources, ALLOC_CLIENT_COMPLETE,
    };

    fn alloc(id: &str, node: &str, disk: i64, ports: &[i64]) -> Allocation {
        Allocation {
            id: id.into(),
            node_id: node.into(),
            desired_status: "run".into(),
            client_status: "running".into(),
            allocated_resources: Some(AllocatedResources {
                shared: AllocatedSharedResources {
                    disk_mb: disk,
                    ports: ports
                        .iter()
                        .map(|p| AllocatedPortMapping {
                            value: *p,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn follows_allocations_as_they_come_change_and_go() {
        let mut usage = OrdMap::new();
        let a = alloc("a", "n1", 100, &[80, 443]);
        let b = alloc("b", "n1", 50, &[80]);
        track(&mut usage, None, &a);
        track(&mut usage, None, &b);
        assert_eq!(usage["n1"].disk_mb, 150);
        assert_eq!(usage["n1"].ports, vec![80, 80, 443]);
        // A client update that changes nothing it holds.
        let mut running = a.clone();
        running.client_description = "Tasks are running".into();
        track(&mut usage, Some(&a), &running);
        assert_eq!(usage["n1"].disk_mb, 150);
        // Resized in place.
        let bigger = alloc("a", "n1", 300, &[80, 443]);
        track(&mut usage, Some(&running), &bigger);
        assert_eq!(usage["n1"].disk_mb, 350);
        let mut done = bigger.clone();
        done.client_status = ALLOC_CLIENT_COMPLETE.into();
        track(&mut usage, Some(&bigger), &done);
        assert_eq!(usage["n1"].ports, vec![80]);
        let mut stopped = b.clone();
        stopped.desired_status = "stop".into();
        track(&mut usage, Some(&b), &stopped);
        assert!(usage.get("n1").is_none());
        assert_eq!(rebuild([&a, &b, &done]), {
            let mut m = OrdMap::new();
            track(&mut m, None, &a);
            track(&mut m, None, &b);
            m
        });
    }
}
