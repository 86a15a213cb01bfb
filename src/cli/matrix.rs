//! `burgee flags matrix`: the combinations of flag states to run a test suite under — each
//! flag on or off, and a multivariate flag also on with each of its variants forced — all
//! of them, or a deterministic set that covers every pair of states (`--pairwise`); and
//! `burgee flags set --from-matrix FILE --row N`, which pins one row in one atomic change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Output, pick, print};

/// Rows beyond which all combinations are refused (ask for `--pairwise`).
const MAX_ROWS: usize = 1024;

/// One state of one flag in a row.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Off,
    /// On, serving its own value (a multivariate flag: the control value, every weight 0).
    On,
    /// On, with this option's value for everyone (its weight 100, the others 0).
    Variant(Value),
}

impl State {
    fn label(&self) -> String {
        match self {
            Self::Off => "off".into(),
            Self::On => "on".into(),
            Self::Variant(Value::String(s)) => format!("on:{s}"),
            Self::Variant(other) => format!("on:{other}"),
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Off => json!({"enabled": false}),
            Self::On => json!({"enabled": true}),
            Self::Variant(value) => json!({"enabled": true, "variant": value}),
        }
    }
}

/// The states of each chosen feature, in the order named.
fn states(features: &[Value], names: &[String]) -> anyhow::Result<Vec<(String, Vec<State>)>> {
    names
        .iter()
        .map(|name| {
            let feature = pick(features, "feature", name)?;
            let mut states = vec![State::Off, State::On];
            for option in feature["options"].as_array().into_iter().flatten() {
                states.push(State::Variant(option["value"].clone()));
            }
            Ok((text(&feature["name"]), states))
        })
        .collect()
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Every combination, the first feature varying slowest.
fn all_rows(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new()];
    for &size in sizes {
        rows = rows
            .into_iter()
            .flat_map(|row| {
                (0..size).map(move |value| {
                    let mut next = row.clone();
                    next.push(value);
                    next
                })
            })
            .collect();
    }
    rows
}

/// Rows that together hold every pair of states of every two features, built greedily and
/// deterministically: each row starts from the first pair not yet covered, then gives each
/// other feature the state covering most uncovered pairs (the lowest on a tie).
pub fn pairwise_rows(sizes: &[usize]) -> Vec<Vec<usize>> {
    if sizes.len() < 2 {
        return all_rows(sizes);
    }
    let mut uncovered: BTreeSet<Pair> = BTreeSet::new();
    for i in 0..sizes.len() {
        for j in i + 1..sizes.len() {
            for a in 0..sizes[i] {
                for b in 0..sizes[j] {
                    uncovered.insert((i, a, j, b));
                }
            }
        }
    }
    let mut rows = Vec::new();
    while !uncovered.is_empty() {
        // How many uncovered pairs each state is in.
        let mut open: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for &(m, v, n, w) in &uncovered {
            *open.entry((m, v)).or_default() += 1;
            *open.entry((n, w)).or_default() += 1;
        }
        // A row grown from each of the first uncovered pairs; the one covering most wins.
        let best = uncovered
            .iter()
            .take(SEEDS)
            .map(|&seed| grown_row(sizes, &uncovered, &open, seed))
            .max_by_key(|row| {
                (
                    newly_covered(&uncovered, row),
                    std::cmp::Reverse(row.clone()),
                )
            })
            .unwrap_or_default();
        for x in 0..best.len() {
            for y in x + 1..best.len() {
                uncovered.remove(&(x, best[x], y, best[y]));
            }
        }
        rows.push(best);
    }
    rows
}

/// How many uncovered pairs each pairwise row is tried from.
const SEEDS: usize = 64;

type Pair = (usize, usize, usize, usize);

/// A row holding `seed`, each other feature given the state covering most uncovered pairs
/// with the states chosen so far (the lowest on a tie).
fn grown_row(
    sizes: &[usize],
    uncovered: &BTreeSet<Pair>,
    open: &BTreeMap<(usize, usize), usize>,
    seed: Pair,
) -> Vec<usize> {
    let (i, a, j, b) = seed;
    let mut row: Vec<Option<usize>> = vec![None; sizes.len()];
    row[i] = Some(a);
    row[j] = Some(b);
    for k in 0..sizes.len() {
        if row[k].is_some() {
            continue;
        }
        let gain = |value: usize| {
            row.iter()
                .enumerate()
                .filter_map(|(m, v)| v.map(|v| (m, v)))
                .filter(|&(m, v)| {
                    let pair = if m < k {
                        (m, v, k, value)
                    } else {
                        (k, value, m, v)
                    };
                    uncovered.contains(&pair)
                })
                .count()
        };
        // On a tie, the state with most pairs still to cover anywhere.
        let open = |value: usize| open.get(&(k, value)).copied().unwrap_or(0);
        let best = (0..sizes[k])
            .max_by_key(|&value| (gain(value), open(value), std::cmp::Reverse(value)))
            .unwrap_or(0);
        row[k] = Some(best);
    }
    row.into_iter().map(|v| v.unwrap_or(0)).collect()
}

fn newly_covered(uncovered: &BTreeSet<Pair>, row: &[usize]) -> usize {
    let mut count = 0;
    for x in 0..row.len() {
        for y in x + 1..row.len() {
            count += usize::from(uncovered.contains(&(x, row[x], y, row[y])));
        }
    }
    count
}

/// `burgee flags matrix`.
pub fn matrix(
    client: &Client,
    output: Output,
    environment: &str,
    names: &[String],
    pairwise: bool,
) -> anyhow::Result<()> {
    let env = client.environment(environment)?;
    let features = client.all(&format!(
        "/admin/v1/projects/{}/features?archived=any",
        env["project_id"]
    ))?;
    let states = states(&features, names)?;
    let sizes: Vec<usize> = states.iter().map(|(_, s)| s.len()).collect();
    let total: usize = sizes.iter().product();
    if !pairwise && total > MAX_ROWS {
        bail!("{total} combinations are too many to run; ask for --pairwise");
    }
    let rows = if pairwise {
        pairwise_rows(&sizes)
    } else {
        all_rows(&sizes)
    };
    let rows: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(n, row)| {
            let flags: serde_json::Map<String, Value> = row
                .iter()
                .zip(&states)
                .map(|(&value, (name, states))| (name.clone(), states[value].json()))
                .collect();
            json!({"row": n, "flags": flags})
        })
        .collect();
    let answer = json!({
        "environment": env["name"],
        "project_id": env["project_id"],
        "features": states.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "pairwise": pairwise,
        "rows": rows,
    });
    let mut columns = vec!["row".to_owned()];
    columns.extend(states.iter().map(|(name, _)| name.clone()));
    let table: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut line = json!({"row": r["row"]});
            for (name, state) in r["flags"].as_object().into_iter().flatten() {
                let label = match (state["enabled"].as_bool(), state.get("variant")) {
                    (Some(true), Some(v)) => State::Variant(v.clone()).label(),
                    (Some(true), None) => State::On.label(),
                    _ => State::Off.label(),
                };
                line[name] = json!(label);
            }
            line
        })
        .collect();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    print(output, &answer, &columns, &table);
    Ok(())
}

/// `burgee flags set --from-matrix FILE --row N`: pins row N of a matrix (as `flags matrix
/// --output json` printed it) in the environment, in one atomic change; each flag keeps its
/// value, a forced variant gets weight 100 and the other options 0.
pub fn set_row(
    client: &Client,
    output: Output,
    environment: &str,
    file: &Path,
    row: usize,
) -> anyhow::Result<()> {
    let matrix: Value = serde_json::from_str(
        &std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?,
    )
    .with_context(|| {
        format!(
            "{} is not a matrix as `burgee flags matrix --output json` prints it",
            file.display()
        )
    })?;
    let Some(wanted) = matrix["rows"].as_array().and_then(|rows| rows.get(row)) else {
        bail!("{} has no row {row}", file.display());
    };
    let env = client.environment(environment)?;
    let project = client.get(&format!("/admin/v1/projects/{}", env["project_id"]))?;
    let manifest: Value = client.get(&format!(
        "/admin/v1/projects/{}/manifest",
        env["project_id"]
    ))?;
    let current = manifest["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == env["name"])
        .cloned()
        .unwrap_or_default();
    let features: Vec<Value> = manifest["features"].as_array().cloned().unwrap_or_default();
    let mut flags = serde_json::Map::new();
    for (name, state) in wanted["flags"].as_object().into_iter().flatten() {
        let feature = pick(&features, "feature", name)?;
        let now = &current["flags"][text(&feature["name"])];
        let mut flag = json!({"enabled": state["enabled"], "value": now["value"]});
        let options = feature["options"].as_array().cloned().unwrap_or_default();
        if !options.is_empty() {
            let forced = state.get("variant");
            flag["variants"] = options
                .iter()
                .map(|o| {
                    let weight = if forced == Some(&o["value"]) { 100 } else { 0 };
                    json!({"option": o["value"], "weight": weight})
                })
                .collect();
        }
        flags.insert(text(&feature["name"]), flag);
    }
    let file = json!({
        "version": 1,
        "project": {"name": project["name"], "hide_disabled_flags": project["hide_disabled_flags"]},
        "environments": [{"name": env["name"], "flags": flags}],
    });
    let answer = client.call(
        Method::POST,
        "/admin/v1/manifest",
        Some(&json!({"manifest": file})),
    )?;
    if output == Output::Table {
        println!(
            "row {row} pinned in {} ({} changes)",
            text(&env["name"]),
            answer["changes"].as_array().map_or(0, Vec::len)
        );
    } else {
        print(output, &answer, &[], &[]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of states of every two features appears in some row.
    fn covers_all_pairs(sizes: &[usize], rows: &[Vec<usize>]) -> bool {
        (0..sizes.len()).all(|i| {
            (i + 1..sizes.len()).all(|j| {
                (0..sizes[i])
                    .all(|a| (0..sizes[j]).all(|b| rows.iter().any(|r| r[i] == a && r[j] == b)))
            })
        })
    }

    #[test]
    fn pairwise_rows_cover_every_pair_with_far_fewer_rows() {
        for sizes in [vec![2; 10], vec![2, 4, 3, 2, 2, 5], vec![3, 3], vec![2; 30]] {
            let rows = pairwise_rows(&sizes);
            assert!(covers_all_pairs(&sizes, &rows), "{sizes:?}");
            let all: usize = sizes.iter().product();
            assert!(
                rows.len() < all || all <= 9,
                "{sizes:?}: {} rows",
                rows.len()
            );
            assert_eq!(rows, pairwise_rows(&sizes), "deterministic");
        }
        // Ten on/off flags: 1 024 combinations, a handful of rows.
        let n = pairwise_rows(&[2; 10]).len();
        assert!(n <= 10, "{n} rows");
    }

    #[test]
    fn all_rows_are_the_cartesian_product() {
        let rows = all_rows(&[2, 3]);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0], [0, 0]);
        assert_eq!(rows[5], [1, 2]);
    }
}
