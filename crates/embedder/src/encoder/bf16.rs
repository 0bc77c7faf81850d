//! Dense layers in bfloat16 on CPUs with AVX-512 BF16.
//!
//! The weights are rounded to bfloat16 once, when the model loads, and laid out in panels of
//! [`NR`] output columns; each forward pass rounds its input rows the same way and multiplies
//! with `VDPBF16PS`, which takes pairs of bfloat16 products along the inner dimension and adds
//! them into f32 sums. An instruction does twice the multiply-adds of an f32 FMA of the same
//! width, and the sums stay in f32; what is lost is the inputs' precision (8 significant bits
//! instead of 24), which moves a sentence embedding by about 1e-2 in cosine distance at most
//! (the tests measure it).
//!
//! Only shapes this layout serves are packed (an inner dimension that is even, an output
//! width that is a multiple of [`NR`]); others stay with candle's f32 product.
//!
//! The one module of the workspace with `unsafe` code: entering a function compiled for
//! instructions the baseline lacks, and unaligned vector loads and stores. pulp, which the
//! other kernels use to stay safe, has no bfloat16 operations.
#![allow(unsafe_code)]

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// Output columns per panel: two AVX-512 registers of f32 sums.
const NR: usize = 32;

/// Whether this CPU runs the bfloat16 products.
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x` rounded to the nearest bfloat16 (ties to even), as the low 16 bits. Inputs here are
/// finite; a NaN would come out as some NaN or infinity.
fn bf16_bits(x: f32) -> u32 {
    let bits = x.to_bits();
    bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16
}

/// A dense layer's weight `(k, n)` in bfloat16 pairs: panel `p` holds columns
/// `p * NR .. (p + 1) * NR`; within it, for each pair of rows `2q, 2q + 1`, [`NR`] 32-bit words,
/// one per column, with row `2q` in the low half and `2q + 1` in the high half.
#[derive(Debug, Clone)]
pub struct Bf16Dense {
    k: usize,
    n: usize,
    panels: Vec<u32>,
}

impl Bf16Dense {
    /// Packs `weight` (`(k, n)`, f32) when this CPU and the shape allow; otherwise `None`.
    pub fn pack(weight: &Tensor) -> Result<Option<Self>> {
        let (k, n) = weight.dims2()?;
        if !supported() || k % 2 != 0 || n % NR != 0 || k == 0 {
            return Ok(None);
        }
        let w: Vec<f32> = weight.flatten_all()?.to_vec1()?;
        Ok(Some(Self::from_rows(&w, k, n)))
    }

    fn from_rows(w: &[f32], k: usize, n: usize) -> Self {
        let pairs = k / 2;
        let mut panels = Vec::with_capacity(pairs * n);
        for p in 0..n / NR {
            for q in 0..pairs {
                for c in p * NR..(p + 1) * NR {
                    let low = bf16_bits(w[2 * q * n + c]);
                    let high = bf16_bits(w[(2 * q + 1) * n + c]);
                    panels.push(low | (high << 16));
                }
            }
        }
        Bf16Dense { k, n, panels }
    }

    /// `a` `(m, k)` times the weight, into `out` `(m, n)`.
    fn multiply(&self, a: &[f32], m: usize, out: &mut [f32]) {
        assert_eq!(a.len(), m * self.k);
        assert_eq!(out.len(), m * self.n);
        // SAFETY: a `Bf16Dense` is only packed where `supported()` holds, which is what
        // `x86::multiply` is compiled for; the lengths were checked above.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            x86::multiply(a, m, self.k, &self.panels, self.n, out)
        };
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("bfloat16 weights are only packed on x86-64");
    }
}

impl CustomOp1 for Bf16Dense {
    fn name(&self) -> &'static str {
        "bf16-dense"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, k) = layout.shape().dims2()?;
        if k != self.k {
            bail!(
                "bf16-dense: input has {k} columns, the weight {} rows",
                self.k
            )
        }
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("bf16-dense: input must be contiguous")
        };
        let input = &storage.as_slice::<f32>()?[start..end];
        let mut out = vec![0f32; m * self.n];
        self.multiply(input, m, &mut out);
        Ok((CpuStorage::F32(out), Shape::from((m, self.n))))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::NR;

    /// Rows of the output computed together: 8 rows of two registers is 16 accumulators, half
    /// the register file, leaving room for the panel's two registers and the broadcasts.
    const MR: usize = 8;

    /// See [`super::Bf16Dense::multiply`].
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 BF16; `a` is `m * k`, `panels` `k / 2 * n` and
    /// `out` `m * n` long, `k` even and `n` a multiple of [`NR`].
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn multiply(
        a: &[f32],
        m: usize,
        k: usize,
        panels: &[u32],
        n: usize,
        out: &mut [f32],
    ) {
        let pairs = k / 2;
        // The input rows rounded to bfloat16 pairs, 32 values per instruction.
        let mut rows = vec![0u32; m * pairs];
        for r in 0..m {
            let src = &a[r * k..(r + 1) * k];
            let dst = &mut rows[r * pairs..(r + 1) * pairs];
            let whole = k / 32 * 32;
            for j in (0..whole).step_by(32) {
                let low = _mm512_loadu_ps(src.as_ptr().add(j));
                let high = _mm512_loadu_ps(src.as_ptr().add(j + 16));
                let packed = _mm512_cvtne2ps_pbh(high, low);
                _mm512_storeu_ps(
                    dst.as_mut_ptr().add(j / 2).cast(),
                    std::mem::transmute::<__m512bh, __m512>(packed),
                );
            }
            for q in whole / 2..pairs {
                dst[q] = super::bf16_bits(src[2 * q]) | (super::bf16_bits(src[2 * q + 1]) << 16);
            }
        }
        for p in 0..n / NR {
            let panel = &panels[p * pairs * NR..(p + 1) * pairs * NR];
            let mut r = 0;
            while r + MR <= m {
                block::<MR>(&rows, r, pairs, panel, out, n, p * NR);
                r += MR;
            }
            match m - r {
                0 => {}
                1 => block::<1>(&rows, r, pairs, panel, out, n, p * NR),
                2 => block::<2>(&rows, r, pairs, panel, out, n, p * NR),
                3 => block::<3>(&rows, r, pairs, panel, out, n, p * NR),
                4 => block::<4>(&rows, r, pairs, panel, out, n, p * NR),
                5 => block::<5>(&rows, r, pairs, panel, out, n, p * NR),
                6 => block::<6>(&rows, r, pairs, panel, out, n, p * NR),
                _ => block::<7>(&rows, r, pairs, panel, out, n, p * NR),
            }
        }
    }

    /// Output rows `row .. row + R`, columns `col .. col + NR`, over the whole inner dimension.
    ///
    /// # Safety
    /// As [`multiply`], and `row + R` rows of `rows` and of `out`, and `col + NR` columns of
    /// `out`, exist: every pointer below stays inside its slice.
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn block<const R: usize>(
        rows: &[u32],
        row: usize,
        pairs: usize,
        panel: &[u32],
        out: &mut [f32],
        n: usize,
        col: usize,
    ) {
        debug_assert!(rows.len() >= (row + R) * pairs && panel.len() >= pairs * NR);
        debug_assert!(col + NR <= n && out.len() >= (row + R) * n);
        let mut sums = [[_mm512_setzero_ps(); 2]; R];
        let a = rows.as_ptr().add(row * pairs);
        let b = panel.as_ptr();
        for q in 0..pairs {
            let b0: __m512bh =
                std::mem::transmute::<__m512, __m512bh>(_mm512_loadu_ps(b.add(q * NR).cast()));
            let b1: __m512bh =
                std::mem::transmute::<__m512, __m512bh>(_mm512_loadu_ps(b.add(q * NR + 16).cast()));
            for (i, sum) in sums.iter_mut().enumerate() {
                let pair: __m512bh = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(
                    *a.add(i * pairs + q) as i32,
                ));
                sum[0] = _mm512_dpbf16_ps(sum[0], pair, b0);
                sum[1] = _mm512_dpbf16_ps(sum[1], pair, b1);
            }
        }
        for (i, sum) in sums.iter().enumerate() {
            let o = out.as_mut_ptr().add((row + i) * n + col);
            _mm512_storeu_ps(o, sum[0]);
            _mm512_storeu_ps(o.add(16), sum[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn random(len: usize, seed: u64) -> Vec<f32> {
        // A small LCG: reproducible values in [-1, 1).
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn rounding_is_to_the_nearest_bfloat16() {
        assert_eq!(bf16_bits(1.0), 0x3f80);
        assert_eq!(bf16_bits(-2.5), 0xc020);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even one, 1.
        assert_eq!(bf16_bits(1.0 + 1.0 / 256.0), 0x3f80);
        // Just above halfway rounds up.
        assert_eq!(bf16_bits(1.0 + 1.0 / 256.0 + 1.0 / 65536.0), 0x3f81);
    }

    #[test]
    fn products_match_f32_within_bfloat16_precision() {
        if !supported() {
            eprintln!("this CPU has no AVX-512 BF16; nothing to test");
            return;
        }
        // Row counts that exercise full blocks of 8 and every remainder.
        for (m, k, n) in [(1, 2, 32), (7, 64, 64), (13, 384, 96), (29, 100, 32)] {
            let a = random(m * k, 1);
            let w = random(k * n, 2);
            let weight = Tensor::from_vec(w.clone(), (k, n), &Device::Cpu).expect("tensor");
            let op = Bf16Dense::pack(&weight)
                .expect("packed")
                .expect("supported");
            let input = Tensor::from_vec(a.clone(), (m, k), &Device::Cpu).expect("tensor");
            let got: Vec<f32> = input
                .apply_op1_no_bwd(&op)
                .expect("product")
                .flatten_all()
                .expect("flat")
                .to_vec1()
                .expect("values");
            for r in 0..m {
                for c in 0..n {
                    let exact: f32 = (0..k).map(|i| a[r * k + i] * w[i * n + c]).sum();
                    let magnitude: f32 = (0..k).map(|i| (a[r * k + i] * w[i * n + c]).abs()).sum();
                    // Each factor is off by at most 2^-9 of itself, so each product by 2^-8.
                    let bound = magnitude / 256.0 + 1e-5;
                    let error = (got[r * n + c] - exact).abs();
                    assert!(
                        error <= bound,
                        "({m}x{k}x{n}) row {r} column {c}: {} vs {exact}, bound {bound}",
                        got[r * n + c]
                    );
                }
            }
        }
    }

    #[test]
    fn shapes_the_layout_cannot_serve_are_left_to_f32() {
        let odd_inner = Tensor::zeros((3, 32), candle_core::DType::F32, &Device::Cpu).expect("t");
        assert!(Bf16Dense::pack(&odd_inner).expect("checked").is_none());
        let narrow = Tensor::zeros((4, 48), candle_core::DType::F32, &Device::Cpu).expect("t");
        assert!(Bf16Dense::pack(&narrow).expect("checked").is_none());
    }
}
