//! Hashed word n-grams: the lexical half of the classifier's input. Words are runs of letters
//! and digits, lowercased; unigrams and bigrams are hashed (FNV-1a) into a fixed number of
//! buckets, weighted by sublinear term frequency and L2-normalised.

/// Turns text into sparse `(bucket, weight)` features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NgramHasher {
    buckets: u32,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(seed, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

impl NgramHasher {
    pub fn new(buckets: u32) -> Self {
        assert!(buckets > 0, "at least one bucket");
        NgramHasher { buckets }
    }

    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Sparse features of `text`, sorted by bucket, unit L2 norm (empty for text without words).
    pub fn features(&self, text: &str) -> Vec<(u32, f32)> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut buckets: Vec<u32> = Vec::with_capacity(words.len() * 2);
        for (i, w) in words.iter().enumerate() {
            let h = fnv1a(FNV_OFFSET, w.as_bytes());
            buckets.push((h % u64::from(self.buckets)) as u32);
            if let Some(next) = words.get(i + 1) {
                // A separator byte no word contains keeps "ab c" and "a bc" apart.
                let h2 = fnv1a(fnv1a(h, &[0]), next.as_bytes());
                buckets.push((h2 % u64::from(self.buckets)) as u32);
            }
        }
        buckets.sort_unstable();
        let mut features: Vec<(u32, f32)> = Vec::new();
        for b in buckets {
            match features.last_mut() {
                Some((last, count)) if *last == b => *count += 1.0,
                _ => features.push((b, 1.0)),
            }
        }
        for (_, w) in &mut features {
            *w = 1.0 + w.ln();
        }
        let norm = features.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, w) in &mut features {
                *w /= norm;
            }
        }
        features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_case_insensitive_sorted_and_unit_length() {
        let h = NgramHasher::new(1 << 18);
        let a = h.features("Printer JAM, printer jam!");
        let b = h.features("printer jam printer jam");
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].0 < w[1].0));
        let norm: f32 = a.iter().map(|(_, w)| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(h.features(" !? ").is_empty());
    }

    #[test]
    fn word_order_matters_through_bigrams() {
        let h = NgramHasher::new(1 << 18);
        assert_ne!(h.features("screen black"), h.features("black screen"));
    }
}
