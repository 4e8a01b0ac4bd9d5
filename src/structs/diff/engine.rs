//! The generic parts of Nomad's diff: flattened field maps, field and set diffs, the
//! primitive-object diff whose type follows from its fields, and Nomad's object order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{DiffType, FieldDiff, ObjectDiff};

/// An object's primitive fields by Go field name, values as Go's `%v` prints them.
pub(super) type Flat = BTreeMap<String, String>;

/// Builds a [`Flat`] with Go's renderings of drover's field types.
#[derive(Default)]
pub(super) struct FlatBuilder(pub(super) Flat);

impl FlatBuilder {
    pub(super) fn str(&mut self, name: &str, v: &str) -> &mut Self {
        self.0.insert(name.into(), v.into());
        self
    }
    pub(super) fn int(&mut self, name: &str, v: i64) -> &mut Self {
        self.0.insert(name.into(), v.to_string());
        self
    }
    pub(super) fn bool(&mut self, name: &str, v: bool) -> &mut Self {
        self.0.insert(name.into(), v.to_string());
        self
    }
    /// A field that is a plain (non-pointer) value in Nomad: unset reads as zero there.
    pub(super) fn opt_int(&mut self, name: &str, v: Option<i64>) -> &mut Self {
        self.int(name, v.unwrap_or_default())
    }
    pub(super) fn opt_bool(&mut self, name: &str, v: Option<bool>) -> &mut Self {
        self.bool(name, v.unwrap_or_default())
    }
    pub(super) fn opt_str(&mut self, name: &str, v: Option<&str>) -> &mut Self {
        self.str(name, v.unwrap_or_default())
    }
    /// A `map[string]string` field: one entry per key, `Name[key]`.
    pub(super) fn map(&mut self, name: &str, m: &BTreeMap<String, String>) -> &mut Self {
        for (k, v) in m {
            self.0.insert(format!("{name}[{k}]"), v.clone());
        }
        self
    }
    pub(super) fn build(&mut self) -> Flat {
        std::mem::take(&mut self.0)
    }
}

/// One field's diff; unchanged fields only when `contextual`.
pub(super) fn field_diff(old: &str, new: &str, name: &str, contextual: bool) -> Option<FieldDiff> {
    let mut diff = FieldDiff {
        name: name.into(),
        ..Default::default()
    };
    if old == new {
        if !contextual {
            return None;
        }
        diff.old = old.into();
        diff.new = new.into();
        return Some(diff);
    }
    if old.is_empty() {
        diff.diff_type = DiffType::Added;
        diff.new = new.into();
    } else if new.is_empty() {
        diff.diff_type = DiffType::Deleted;
        diff.old = old.into();
    } else {
        diff.diff_type = DiffType::Edited;
        diff.old = old.into();
        diff.new = new.into();
    }
    Some(diff)
}

/// Diffs every field of either map (a missing field reads as ""), sorted by name.
pub(super) fn field_diffs(
    old: Option<&Flat>,
    new: Option<&Flat>,
    contextual: bool,
) -> Vec<FieldDiff> {
    let empty = Flat::new();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter_map(|k| {
            let o = old.get(k).map_or("", String::as_str);
            let n = new.get(k).map_or("", String::as_str);
            field_diff(o, n, k, contextual)
        })
        .collect()
}

/// A list of strings compared as a set (`Datacenters`, `Tags`, …): every member is a
/// field named after the set.
pub(super) fn string_set_diff(
    old: &[String],
    new: &[String],
    name: &str,
    contextual: bool,
) -> Option<ObjectDiff> {
    let old: BTreeSet<&String> = old.iter().collect();
    let new: BTreeSet<&String> = new.iter().collect();
    if old == new && !contextual {
        return None;
    }
    let mut fields = Vec::new();
    let (mut added, mut removed) = (false, false);
    for k in &old {
        if !new.contains(k) {
            fields.extend(field_diff(k, "", name, contextual));
            removed = true;
        } else if contextual {
            fields.extend(field_diff(k, k, name, contextual));
        }
    }
    for k in new.difference(&old) {
        fields.extend(field_diff("", k, name, contextual));
        added = true;
    }
    sort_fields(&mut fields);
    let diff_type = match (added, removed) {
        (true, true) => DiffType::Edited,
        (true, false) => DiffType::Added,
        (false, true) => DiffType::Deleted,
        (false, false) if fields.is_empty() => return None,
        (false, false) => DiffType::None,
    };
    Some(ObjectDiff {
        diff_type,
        name: name.into(),
        fields,
        objects: Vec::new(),
    })
}

/// Nomad's `primitiveObjectDiff`: the object's type follows from its fields' (so a
/// field set from empty alone makes the object `Added`); `None` when nothing changed.
pub(super) fn primitive_object_diff(
    old: Option<Flat>,
    new: Option<Flat>,
    name: &str,
    contextual: bool,
) -> Option<ObjectDiff> {
    let fields = field_diffs(old.as_ref(), new.as_ref(), contextual);
    let has = |t: DiffType| fields.iter().any(|f| f.diff_type == t);
    let (added, deleted) = (has(DiffType::Added), has(DiffType::Deleted));
    let diff_type = if has(DiffType::Edited) || (added && deleted) {
        DiffType::Edited
    } else if added {
        DiffType::Added
    } else if deleted {
        DiffType::Deleted
    } else {
        return None;
    };
    Some(ObjectDiff {
        diff_type,
        name: name.into(),
        fields,
        objects: Vec::new(),
    })
}

/// Nomad's `primitiveObjectSetDiff`: items matched by `key` (for constraints and
/// affinities the key is the whole item, so they are only ever added or deleted).
/// Items with the same key collapse to the last one, as in Nomad's map.
pub(super) fn primitive_object_set_diff<T>(
    old: &[T],
    new: &[T],
    name: &str,
    contextual: bool,
    key: impl Fn(&T) -> String,
    flat: impl Fn(&T) -> Flat,
) -> Vec<ObjectDiff> {
    let old: BTreeMap<String, &T> = old.iter().map(|o| (key(o), o)).collect();
    let new: BTreeMap<String, &T> = new.iter().map(|n| (key(n), n)).collect();
    let mut diffs: Vec<ObjectDiff> = old
        .iter()
        .filter_map(|(k, o)| {
            primitive_object_diff(Some(flat(o)), new.get(k).map(|n| flat(n)), name, contextual)
        })
        .collect();
    diffs.extend(
        new.iter()
            .filter(|(k, _)| !old.contains_key(*k))
            .filter_map(|(_, n)| primitive_object_diff(None, Some(flat(n)), name, contextual)),
    );
    sort_objects(&mut diffs);
    diffs
}

/// The shape shared by most object diffs: equal → nothing; otherwise the type from
/// which side exists, and the fields of both sides. Callers add nested objects.
pub(super) fn object_diff<T: PartialEq>(
    old: Option<&T>,
    new: Option<&T>,
    name: &str,
    contextual: bool,
    flat: impl Fn(&T) -> Flat,
) -> Option<ObjectDiff> {
    let diff_type = match (old, new) {
        (o, n) if o == n => return None,
        (None, _) => DiffType::Added,
        (_, None) => DiffType::Deleted,
        _ => DiffType::Edited,
    };
    Some(ObjectDiff {
        diff_type,
        name: name.into(),
        fields: field_diffs(old.map(&flat).as_ref(), new.map(&flat).as_ref(), contextual),
        objects: Vec::new(),
    })
}

/// Like [`object_diff`] for free-form maps (`Config`, scaling `Policy`): an empty side
/// counts as absent, and every nested key is a field (`ports[0]`, `port_map[0][db]`).
pub(super) fn json_map_diff(
    old: &serde_json::Map<String, Value>,
    new: &serde_json::Map<String, Value>,
    name: &str,
    contextual: bool,
) -> Option<ObjectDiff> {
    let diff_type = if old == new {
        return None;
    } else if old.is_empty() {
        DiffType::Added
    } else if new.is_empty() {
        DiffType::Deleted
    } else {
        DiffType::Edited
    };
    Some(ObjectDiff {
        diff_type,
        name: name.into(),
        fields: field_diffs(
            Some(&flatten_json(old)),
            Some(&flatten_json(new)),
            contextual,
        ),
        objects: Vec::new(),
    })
}

/// Flattens a JSON map the way Nomad flattens a decoded `map[string]interface{}`.
pub(super) fn flatten_json(map: &serde_json::Map<String, Value>) -> Flat {
    let mut out = Flat::new();
    for (k, v) in map {
        flatten_value(k.clone(), v, &mut out);
    }
    out
}

fn flatten_value(prefix: String, v: &Value, out: &mut Flat) {
    match v {
        Value::Null => {
            out.insert(prefix, "nil".into());
        }
        Value::Bool(b) => {
            out.insert(prefix, b.to_string());
        }
        // Nomad's server decodes job JSON, so every number is a float64.
        Value::Number(n) => {
            out.insert(prefix, go_float(n.as_f64().unwrap_or_default()));
        }
        Value::String(s) => {
            out.insert(prefix, s.clone());
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_value(format!("{prefix}[{i}]"), item, out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                flatten_value(format!("{prefix}[{k}]"), item, out);
            }
        }
    }
}

/// Go's `%v` of a float64: shortest digits, exponent form when the exponent is below
/// -4 or at least 6 (`6379`, `0.5`, `1e+06`, `1.5e-07`).
pub(super) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or_default();
    if (-4..6).contains(&exp) {
        return f.to_string();
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

pub(super) fn sort_fields(fields: &mut [FieldDiff]) {
    fields.sort_by(cmp_fields);
}

fn cmp_fields(a: &FieldDiff, b: &FieldDiff) -> Ordering {
    (&a.name, &a.old, &a.new).cmp(&(&b.name, &b.old, &b.new))
}

/// Nomad's object order: name, then Edited < Added < Deleted < None, then the number
/// of fields and objects, then the contents.
pub(super) fn sort_objects(objects: &mut [ObjectDiff]) {
    objects.sort_by(cmp_objects);
}

fn cmp_objects(a: &ObjectDiff, b: &ObjectDiff) -> Ordering {
    a.name
        .cmp(&b.name)
        .then(a.diff_type.rank().cmp(&b.diff_type.rank()))
        .then(a.fields.len().cmp(&b.fields.len()))
        .then(a.objects.len().cmp(&b.objects.len()))
        .then_with(|| {
            a.fields
                .iter()
                .zip(&b.fields)
                .map(|(x, y)| cmp_fields(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
        .then_with(|| {
            a.objects
                .iter()
                .zip(&b.objects)
                .map(|(x, y)| cmp_objects(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
}

/// Matches two lists by a score (Nomad's approach for services and templates, which
/// have no identity): each old item takes the best unmatched new item at or above the
/// threshold. Returns, per old item, the index of its match.
pub(super) fn match_items<T>(
    old: &[T],
    new: &[T],
    score: impl Fn(usize, &T, usize, &T) -> Option<u32>,
) -> Vec<Option<usize>> {
    let mut taken = vec![false; new.len()];
    old.iter()
        .enumerate()
        .map(|(oi, o)| {
            let mut best: Option<(u32, usize)> = None;
            for (ni, n) in new.iter().enumerate() {
                if taken[ni] {
                    continue;
                }
                if let Some(s) = score(oi, o, ni, n) {
                    if best.is_none_or(|(b, _)| s > b) {
                        best = Some((s, ni));
                    }
                }
            }
            let found = best.map(|(_, ni)| ni);
            if let Some(ni) = found {
                taken[ni] = true;
            }
            found
        })
        .collect()
}
