//! A trace's origin variables (the vendor and contract of its window's bars, the roll marker)
//! over its strategy variables, and how a fold compares them with the row it folds into.

use serde_json::{Value, json};

use crate::domain::{evaluation::Variables, feed_source::ORIGIN_KEYS};

/// A trace's variables as stored: `variables`, with the window's `origin` over them.
pub(super) fn variables_with_origin(
    origin: Option<&Value>,
    variables: &impl serde::Serialize,
) -> Value {
    let mut v = json!(variables);
    if let (Value::Object(m), Some(Value::Object(o))) = (&mut v, origin) {
        m.extend(o.iter().map(|(k, x)| (k.clone(), x.clone())));
    }
    v
}

/// The origin variables a trace of `variables` and the window's `origin` would store (what
/// [`origin_of`] reads back from [`BotEvaluator::variables_json`]), without serialising the
/// whole snapshot: a fold compares only these.
pub(super) fn origin_of_parts(origin: Option<&Value>, variables: &Variables) -> Value {
    Value::Object(
        ORIGIN_KEYS
            .iter()
            .map(|k| {
                let v = match origin.and_then(|o| o.get(k)) {
                    Some(v) => v.clone(),
                    None => variables.get(k).map_or(Value::Null, |x| json!(x)),
                };
                ((*k).to_owned(), v)
            })
            .collect(),
    )
}

/// Whether a fold's row, whose stored origin variables are `stored` (from [`origin_of`]), has
/// the origin a trace of `variables` and `origin` would store: [`origin_of_parts`] compared
/// key by key, without building it (a fold happens at nearly every bar of every runner).
pub(super) fn origin_matches(
    stored: &Value,
    origin: Option<&Value>,
    variables: &Variables,
) -> bool {
    ORIGIN_KEYS.iter().all(|k| {
        let was = stored.get(k).unwrap_or(&Value::Null);
        match origin.and_then(|o| o.get(k)) {
            Some(v) => was == v,
            None => match variables.get(k) {
                Some(x) => *was == json!(x),
                None => was.is_null(),
            },
        }
    })
}

/// The origin variables of a variables snapshot (`Null` where absent), to compare two.
pub(super) fn origin_of(variables: &Value) -> Value {
    Value::Object(
        ORIGIN_KEYS
            .iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    variables.get(k).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fold compares the origin without serialising the snapshot: it must be the origin
    /// the stored row's variables would give back, in every case.
    #[test]
    fn the_fold_origin_is_the_stored_variables_origin() {
        let full = json!({"bar_source": "databento", "bar_contract": "ESZ26",
            "mixed_sources": false, "mixed_contracts": true, "rolled_from": "ESU26"});
        let partial = json!({"bar_source": "polygon", "bar_contract": "NQZ26",
            "mixed_sources": true, "mixed_contracts": false});
        let mut plain = Variables::new();
        plain.insert("fast_sma", 101.25);
        plain.insert("slow_sma", f64::NAN);
        let mut clashing = plain.clone();
        clashing.insert("bar_source", 3.5);
        clashing.insert("rolled_from", f64::INFINITY);
        clashing.insert("mixed_contracts", 1.0);
        for origin in [None, Some(&full), Some(&partial)] {
            for variables in [&Variables::new(), &plain, &clashing] {
                let stored = origin_of(&variables_with_origin(origin, variables));
                assert_eq!(
                    origin_of_parts(origin, variables),
                    stored,
                    "origin {origin:?}, variables {variables:?}"
                );
                // A fold's check against a stored row: true exactly for the same origin.
                for other in [None, Some(&full), Some(&partial)] {
                    for vars in [&Variables::new(), &plain, &clashing] {
                        assert_eq!(
                            origin_matches(&stored, other, vars),
                            origin_of_parts(other, vars) == stored,
                            "stored {stored}, origin {other:?}, variables {vars:?}"
                        );
                    }
                }
            }
        }
    }
}
