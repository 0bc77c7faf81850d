//! The taxonomy: categories of tickets, their descriptions, keywords, examples and the skill
//! pool each belongs to. Loaded from a TOML file (`models/taxonomy.toml` by default); any file
//! of the same shape works.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

/// Why a taxonomy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("cannot read taxonomy file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("taxonomy file {path} is not valid TOML of the expected shape")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid taxonomy: {0}")]
    Invalid(String),
}

/// One category of tickets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Stable identifier used in events and the API (snake_case).
    pub id: String,
    /// Human label.
    pub name: String,
    /// The skill pool whose experts handle this category.
    pub pool: String,
    pub description: String,
    /// Lowercase words or short phrases, matched as whole words.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Example tickets of this category.
    #[serde(default)]
    pub examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyFile {
    version: u32,
    #[serde(rename = "category")]
    categories: Vec<Category>,
}

/// A validated taxonomy: at least one category, unique ids, every category with a pool.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    categories: Vec<Category>,
}

impl Taxonomy {
    /// Reads and validates a taxonomy file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TaxonomyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TaxonomyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            TaxonomyError::Parse { source, .. } => TaxonomyError::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses and validates taxonomy TOML.
    pub fn parse(text: &str) -> Result<Self, TaxonomyError> {
        let file: TaxonomyFile = toml::from_str(text).map_err(|source| TaxonomyError::Parse {
            path: "<inline>".into(),
            source,
        })?;
        if file.version != 1 {
            return Err(TaxonomyError::Invalid(format!(
                "unsupported version {}, expected 1",
                file.version
            )));
        }
        Self::from_categories(file.categories)
    }

    /// Validates a list of categories.
    pub fn from_categories(mut categories: Vec<Category>) -> Result<Self, TaxonomyError> {
        if categories.is_empty() {
            return Err(TaxonomyError::Invalid("no categories".into()));
        }
        let mut seen = HashSet::new();
        for c in &mut categories {
            if c.id.trim().is_empty() || c.pool.trim().is_empty() {
                return Err(TaxonomyError::Invalid(format!(
                    "category `{}` needs a non-empty id and pool",
                    c.id
                )));
            }
            if !seen.insert(c.id.clone()) {
                return Err(TaxonomyError::Invalid(format!(
                    "category `{}` appears twice",
                    c.id
                )));
            }
            for k in &mut c.keywords {
                *k = k.trim().to_lowercase();
            }
            c.keywords.retain(|k| !k.is_empty());
        }
        Ok(Taxonomy { categories })
    }

    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// The pool of a category, if the category exists.
    pub fn pool_of(&self, category: &str) -> Option<&str> {
        self.category(category).map(|c| c.pool.as_str())
    }

    /// Every pool with the categories it serves, in name order.
    pub fn pools(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut pools: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in &self.categories {
            pools
                .entry(c.pool.as_str())
                .or_default()
                .push(c.id.as_str());
        }
        pools
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
version = 1
[[category]]
id = "printers"
name = "Printers"
pool = "printers"
description = "Printers and scanners."
keywords = [" Paper Jam ", "toner"]
examples = ["the printer jams"]

[[category]]
id = "audio"
name = "Audio"
pool = "av"
description = "Speakers."
"#;

    #[test]
    fn a_valid_file_loads_with_normalised_keywords() {
        let t = Taxonomy::parse(SMALL).expect("valid taxonomy");
        assert_eq!(t.categories().len(), 2);
        assert_eq!(
            t.category("printers").map(|c| c.keywords.clone()),
            Some(vec!["paper jam".into(), "toner".into()])
        );
        assert_eq!(t.pool_of("audio"), Some("av"));
        assert_eq!(t.pools().len(), 2);
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let text = format!("{SMALL}\n[[category]]\nid = \"audio\"\nname = \"x\"\npool = \"x\"\ndescription = \"x\"\n");
        assert!(matches!(
            Taxonomy::parse(&text),
            Err(TaxonomyError::Invalid(_))
        ));
    }

    #[test]
    fn the_shipped_taxonomy_is_valid() {
        // At run time: a test binary may have been compiled in another checkout.
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo runs the tests");
        let path = format!("{dir}/../../models/taxonomy.toml");
        let t = Taxonomy::load(path).expect("shipped taxonomy loads");
        assert!(t.categories().len() >= 8);
        for c in t.categories() {
            assert!(!c.keywords.is_empty(), "{} has keywords", c.id);
            assert!(c.examples.len() >= 3, "{} has examples", c.id);
        }
    }
}
