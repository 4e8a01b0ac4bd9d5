//! cgroups: one interface over cgroup v2 and v1.
