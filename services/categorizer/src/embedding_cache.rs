//! A file of embeddings keyed by text, so tools that embed the same data again and again
//! (evaluation, benchmarks) pay for the model once.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

const MAGIC: &[u8; 8] = b"SYSEMB01";

/// Embeddings of texts for one model.
#[derive(Debug)]
pub struct EmbeddingCache {
    model: String,
    dim: usize,
    vectors: HashMap<u64, Vec<f32>>,
}

fn key(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl EmbeddingCache {
    pub fn default_path() -> PathBuf {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        home.join(".cache/sysops-eval/embeddings.bin")
    }

    pub fn empty(model: &str, dim: usize) -> Self {
        EmbeddingCache {
            model: model.to_owned(),
            dim,
            vectors: HashMap::new(),
        }
    }

    /// Reads the cache; a missing file, or one written for another model, gives an empty cache.
    pub fn load(path: &Path, model: &str, dim: usize) -> anyhow::Result<Self> {
        let mut cache = Self::empty(model, dim);
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(cache);
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        let header_len = 8 + 8 + 8;
        if bytes.len() < header_len || &bytes[..8] != MAGIC {
            return Ok(cache);
        }
        let name_len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let stored_dim = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")) as usize;
        let name = bytes
            .get(24..24 + name_len)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        if name.as_deref() != Some(model) || stored_dim != dim {
            return Ok(cache);
        }
        let record = 8 + 4 * dim;
        for chunk in bytes[24 + name_len..].chunks_exact(record) {
            let k = u64::from_le_bytes(chunk[..8].try_into().expect("8 bytes"));
            let v = chunk[8..]
                .chunks_exact(4)
                .map(|f| f32::from_le_bytes(f.try_into().expect("4 bytes")))
                .collect();
            cache.vectors.insert(k, v);
        }
        Ok(cache)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut out = Vec::with_capacity(24 + self.vectors.len() * (8 + 4 * self.dim));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.model.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.dim as u64).to_le_bytes());
        out.extend_from_slice(self.model.as_bytes());
        for (k, v) in &self.vectors {
            out.extend_from_slice(&k.to_le_bytes());
            for f in v {
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        let tmp = path.with_extension("tmp");
        std::fs::File::create(&tmp)?.write_all(&out)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.vectors.get(&key(text)).map(Vec::as_slice)
    }

    /// Embeds the texts not cached yet with `embed`; returns how many that was.
    pub fn fill<E>(
        &mut self,
        texts: &[&str],
        embed: impl FnOnce(Vec<String>) -> Result<Vec<Vec<f32>>, E>,
    ) -> anyhow::Result<usize>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut missing: Vec<String> = texts
            .iter()
            .filter(|t| !self.vectors.contains_key(&key(t)))
            .map(|t| (*t).to_owned())
            .collect();
        missing.sort();
        missing.dedup();
        let count = missing.len();
        if count == 0 {
            return Ok(0);
        }
        let vectors = embed(missing.clone())?;
        for (text, v) in missing.iter().zip(vectors) {
            self.vectors.insert(key(text), v);
        }
        Ok(count)
    }
}
