//! Kubernetes label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`,
//! `a notin (x,y)`, joined by commas (all must hold).

use serde_json::Value;

#[derive(Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Missing(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed selector; `parse` refuses malformed text.
#[derive(Debug, Default)]
pub struct Selector(Vec<Requirement>);

/// Splits on commas outside parentheses.
fn clauses(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn set(values: &str) -> Option<Vec<String>> {
    let inner = values.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|value| value.trim().to_owned())
            .collect(),
    )
}

impl Selector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for clause in clauses(text)
            .into_iter()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            let requirement = if let Some((key, value)) = clause.split_once("!=") {
                Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) =
                clause.split_once("==").or_else(|| clause.split_once('='))
            {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, values)) = clause.split_once(" notin ") {
                Requirement::NotIn(key.trim().to_owned(), set(values).ok_or(clause)?)
            } else if let Some((key, values)) = clause.split_once(" in ") {
                Requirement::In(key.trim().to_owned(), set(values).ok_or(clause)?)
            } else if let Some(key) = clause.strip_prefix('!') {
                Requirement::Missing(key.trim().to_owned())
            } else if !clause.contains([' ', '(', ')']) {
                Requirement::Exists(clause.to_owned())
            } else {
                return Err(format!("unable to parse requirement: {clause:?}"));
            };
            requirements.push(requirement);
        }
        Ok(Selector(requirements))
    }

    /// Whether an object with `labels` (its `metadata.labels`) is selected.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let label = |key: &str| {
            labels
                .and_then(|labels| labels.get(key))
                .and_then(Value::as_str)
        };
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => label(key) == Some(value.as_str()),
            Requirement::NotEquals(key, value) => label(key) != Some(value.as_str()),
            Requirement::Exists(key) => label(key).is_some(),
            Requirement::Missing(key) => label(key).is_none(),
            Requirement::In(key, values) => {
                label(key).is_some_and(|v| values.iter().any(|x| x == v))
            }
            Requirement::NotIn(key, values) => {
                label(key).is_none_or(|v| values.iter().all(|x| x != v))
            }
        })
    }
}
