//! Labelled tickets in CSV (`id,text,label`), for training and evaluation.

use std::path::Path;

use anyhow::Context;

/// One labelled ticket.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LabelledTicket {
    pub id: String,
    pub text: String,
    pub label: String,
}

/// Reads a CSV with a header row `id,text,label`.
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<LabelledTicket>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, row) in reader.deserialize().enumerate() {
        let row: LabelledTicket = row
            .with_context(|| format!("{} row {}: expected id,text,label", path.display(), i + 2))?;
        rows.push(row);
    }
    anyhow::ensure!(!rows.is_empty(), "{} has no rows", path.display());
    Ok(rows)
}

/// At most `k` rows of each label, chosen by a seeded shuffle so runs are repeatable.
pub fn k_shot(rows: &[LabelledTicket], k: usize, seed: u64) -> Vec<LabelledTicket> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut shuffled: Vec<&LabelledTicket> = rows.iter().collect();
    shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut taken: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    shuffled
        .into_iter()
        .filter(|r| {
            let n = taken.entry(r.label.as_str()).or_default();
            *n += 1;
            *n <= k
        })
        .cloned()
        .collect()
}
