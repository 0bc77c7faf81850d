//! The keyword classifier: the last link of the categorizer chain, and the whole chain when
//! no model is available. A keyword matches only as whole words ("tv" matches "my tv" but not
//! "tvs" or "activate"); a phrase matches as consecutive words.

use std::collections::HashMap;

use sysops_contract::CategoryScore;
use sysops_taxonomy::Taxonomy;

/// A category decision with its confidence in 0..1.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub category: String,
    pub confidence: f32,
    /// Every category that matched, best first, scores summing to 1.
    pub candidates: Vec<CategoryScore>,
}

/// Keyword index over a taxonomy.
#[derive(Debug, Clone)]
pub struct KeywordClassifier {
    categories: Vec<String>,
    /// First word of a keyword -> (all its words, category index).
    index: HashMap<String, Vec<(Vec<String>, usize)>>,
}

/// Lowercase words of `text`: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl KeywordClassifier {
    pub fn new(taxonomy: &Taxonomy) -> Self {
        let mut index: HashMap<String, Vec<(Vec<String>, usize)>> = HashMap::new();
        for (i, category) in taxonomy.categories().iter().enumerate() {
            for keyword in &category.keywords {
                let phrase = words(keyword);
                if let Some(first) = phrase.first() {
                    index.entry(first.clone()).or_default().push((phrase, i));
                }
            }
        }
        KeywordClassifier {
            categories: taxonomy.categories().iter().map(|c| c.id.clone()).collect(),
            index,
        }
    }

    /// Scores every category by the distinct keywords found; a phrase of n words weighs more
    /// than a single word, being more specific. `None` when nothing matched.
    pub fn classify(&self, text: &str) -> Option<Prediction> {
        let tokens = words(text);
        let mut matched: Vec<(&[String], usize)> = Vec::new();
        for start in 0..tokens.len() {
            let Some(entries) = self.index.get(&tokens[start]) else {
                continue;
            };
            for (phrase, category) in entries {
                let end = start + phrase.len();
                if end <= tokens.len()
                    && tokens[start..end] == phrase[..]
                    && !matched
                        .iter()
                        .any(|(p, c)| *p == &phrase[..] && c == category)
                {
                    matched.push((phrase, *category));
                }
            }
        }
        if matched.is_empty() {
            return None;
        }
        let mut scores = vec![0f32; self.categories.len()];
        for (phrase, category) in &matched {
            scores[*category] += 1.0 + 0.5 * (phrase.len() as f32 - 1.0);
        }
        let total: f32 = scores.iter().sum();
        let mut ranked: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let (best, top) = ranked[0];
        // Share of the evidence, discounted when the evidence itself is thin: one keyword
        // alone gives 0.63, two agreeing keywords 0.86.
        let confidence = (top / total) * (1.0 - (-top).exp());
        Some(Prediction {
            category: self.categories[best].clone(),
            confidence,
            candidates: ranked
                .into_iter()
                .take(5)
                .map(|(i, s)| CategoryScore {
                    category: self.categories[i].clone(),
                    score: s / total,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taxonomy() -> Taxonomy {
        Taxonomy::parse(
            r#"
version = 1
[[category]]
id = "tv"
name = "TV"
pool = "av"
description = "Televisions."
keywords = ["tv", "remote control"]
[[category]]
id = "printers"
name = "Printers"
pool = "printers"
description = "Printers."
keywords = ["printer", "paper jam", "toner"]
"#,
        )
        .expect("valid")
    }

    #[test]
    fn keywords_match_whole_words_only() {
        let c = KeywordClassifier::new(&taxonomy());
        assert!(c
            .classify("please activate my account, tvs are fine")
            .is_none());
        assert_eq!(
            c.classify("My TV is dark").map(|p| p.category),
            Some("tv".into())
        );
    }

    #[test]
    fn phrases_match_consecutive_words() {
        let c = KeywordClassifier::new(&taxonomy());
        assert!(c.classify("the paper is fine, no jam").is_none());
        let p = c.classify("Paper jam again!").expect("matches");
        assert_eq!(p.category, "printers");
    }

    #[test]
    fn more_agreeing_keywords_give_more_confidence() {
        let c = KeywordClassifier::new(&taxonomy());
        let one = c.classify("printer broke").expect("matches");
        let two = c.classify("printer out of toner").expect("matches");
        let mixed = c.classify("printer next to the tv").expect("matches");
        assert!(two.confidence > one.confidence);
        assert!(mixed.confidence < one.confidence);
        let sum: f32 = mixed.candidates.iter().map(|c| c.score).sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_keyword_repeated_counts_once() {
        let c = KeywordClassifier::new(&taxonomy());
        let once = c.classify("printer").expect("matches");
        let thrice = c.classify("printer printer printer").expect("matches");
        assert_eq!(once.confidence, thrice.confidence);
    }
}
