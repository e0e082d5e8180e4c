//! docs/config.md cannot drift from the configuration structs: every key the structs accept
//! has a row in its table, every row names a key the structs accept, and every default the
//! table shows is the default the structs have. The keys come from the structs' JSON Schema
//! (derived from the same serde attributes that parse the file).
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::collections::BTreeSet;

use serde_json::Value;
use vigil_config::Config;

/// Every key of the file: sections' fields, and nested tables (`kafka.tls`) with their fields.
/// Maps (`kafka.client`) and arrays of tables (`routes`) are keys whose contents are free.
fn schema_keys() -> BTreeSet<String> {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap();
    let mut keys = BTreeSet::new();
    let root = struct_properties(&schema, &schema).unwrap();
    for (section, section_schema) in root {
        let fields = struct_properties(&schema, section_schema)
            .unwrap_or_else(|| panic!("section `{section}` is not a table"));
        if fields.is_empty() {
            keys.insert(section.clone());
        }
        for (field, field_schema) in fields {
            let key = format!("{section}.{field}");
            if let Some(nested) = struct_properties(&schema, field_schema) {
                for (inner, _) in nested {
                    keys.insert(format!("{key}.{inner}"));
                }
            }
            keys.insert(key);
        }
    }
    keys
}

/// The properties of a struct's schema (following `$ref` and `Option`'s `anyOf` with null);
/// `Some(empty)` for an array of tables (a key of its own), `None` for anything else.
fn struct_properties<'a>(
    root: &'a Value,
    schema: &'a Value,
) -> Option<Vec<(&'a String, &'a Value)>> {
    let schema = resolve(root, schema);
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let not_null: Vec<&Value> = any
            .iter()
            .filter(|s| s.get("type") != Some(&Value::from("null")))
            .collect();
        return match not_null[..] {
            [one] => struct_properties(root, one),
            _ => None,
        };
    }
    if schema.get("type") == Some(&Value::from("array")) {
        return Some(Vec::new());
    }
    let properties = schema.get("properties")?.as_object()?;
    Some(properties.iter().collect())
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/$defs/");
            resolve(root, &root["$defs"][name])
        }
        None => schema,
    }
}

/// The rows of docs/config.md's key table: (keys, default cell). A cell may name several keys
/// (`a.b`, `c`: a bare name shares the previous key's table); `[a.b]` names a table and
/// `[[a]]` an array of tables.
fn documented() -> Vec<(Vec<String>, String)> {
    let text = std::fs::read_to_string(common::root().join("docs/config.md")).unwrap();
    let table = text.split("## Keys").nth(1).unwrap();
    let mut rows = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let mut keys: Vec<String> = Vec::new();
        for token in cells[0].trim_start_matches("| ").split(", ") {
            let name = token
                .trim_matches('`')
                .trim_matches(|c| c == '[' || c == ']');
            let key = match (name.contains('.'), keys.last()) {
                (false, Some(previous)) => {
                    let parent = previous.rsplit_once('.').map_or("", |(p, _)| p);
                    format!("{parent}.{name}")
                }
                _ => name.to_string(),
            };
            keys.push(key);
        }
        rows.push((keys, cells[1].to_string()));
    }
    rows
}

#[test]
fn every_key_is_documented_and_every_documented_key_exists() {
    let schema = schema_keys();
    let docs: BTreeSet<String> = documented().into_iter().flat_map(|(k, _)| k).collect();
    let undocumented: Vec<&String> = schema.difference(&docs).collect();
    let unknown: Vec<&String> = docs.difference(&schema).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/config.md drifted from the structs: keys without a row {undocumented:?}; \
         rows naming no key {unknown:?}"
    );
    assert!(schema.contains("kafka.sasl.password_env"), "{schema:?}");
    assert!(schema.contains("review.trusted_proxies"), "{schema:?}");
}

/// The default of `key` as the structs declare it (`serde(default)` containers put each
/// field's default in the schema); `None` for a key without one (an unset option).
fn schema_default(schema: &Value, key: &str) -> Option<Value> {
    let mut node = schema;
    let mut default = None;
    for segment in key.split('.') {
        let properties = struct_properties(schema, node)?;
        let (_, field) = properties.into_iter().find(|(name, _)| *name == segment)?;
        default = field.get("default").cloned();
        node = field;
    }
    default.filter(|d| !d.is_null())
}

#[test]
fn documented_defaults_are_the_defaults() {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap();
    let mut checked = 0;
    for (keys, cell) in documented() {
        let key = &keys[0];
        let shown = cell
            .split('`')
            .nth(1)
            .filter(|_| !cell.starts_with("unset"));
        match (schema_default(&schema, key), shown) {
            // A secret's default is redacted even in the schema.
            (Some(default), Some(_)) if default == "<redacted>" => {}
            // A value's first code span is its default, as TOML.
            (Some(default), Some(shown)) => {
                let parsed: toml::Table = toml::from_str(&format!("v = {shown}"))
                    .unwrap_or_else(|e| panic!("{key}: default `{shown}` is not TOML: {e}"));
                let parsed = serde_json::to_value(&parsed["v"]).unwrap();
                assert_eq!(parsed, default, "default of {key}");
                checked += 1;
            }
            // An empty table or list may be shown as `empty` or `none`.
            (Some(Value::Object(o)), None) if o.is_empty() => {}
            (Some(Value::Array(a)), None) if a.is_empty() => {}
            (Some(default), None) => panic!("{key}: default {default} is not shown (`{cell}`)"),
            (None, _) => assert!(
                ["unset", "none", "required", "one required"]
                    .iter()
                    .any(|word| cell.starts_with(word)),
                "{key}: no default, but the table shows `{cell}`"
            ),
        }
    }
    assert!(checked > 40, "only {checked} defaults were compared");
}
