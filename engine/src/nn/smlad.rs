//! SMLAD, the Cortex-M4's dual 16-bit multiply-accumulate: `acc + a.lo·b.lo + a.hi·b.hi`, the
//! halves of `a` and `b` taken as signed 16-bit values.
//!
//! On ARM it is the one instruction, through `asm!`: the only `unsafe` in the engine, allowed
//! here and nowhere else. Why it is needed: LLVM's ARM parallel-DSP pass forms SMLAD from safe
//! code only where each 16-bit load feeds one product (a plain dot product, see
//! [`super::qlinear_conv`]); in a register-blocked kernel (two pixels × two output channels,
//! each loaded pair used twice) it falls back to two SMLABBs per pair and spills, and the
//! DSP intrinsics of `core::arch::arm` are not stable. The instruction reads and writes
//! registers only (no memory, no stack, no flags that Rust observes), so the block is sound
//! for any inputs. Everywhere else the same arithmetic is written out, and the host tests run
//! that; the firmware's QEMU tests check the instruction's results bit for bit against tract.
//! The target must have the DSP extension (Cortex-M4/M7, `thumbv7em`).

/// `acc + (a as i16)·(b as i16) + (a >> 16 as i16)·(b >> 16 as i16)`, wrapping as SMLAD does.
#[cfg(target_arch = "arm")]
#[inline(always)]
#[allow(unsafe_code)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let out: i32;
    // SAFETY: SMLAD reads three registers and writes one; it touches no memory and no stack,
    // and the Q flag it may set is not read by compiled Rust code.
    unsafe {
        core::arch::asm!("smlad {out}, {a}, {b}, {acc}", out = lateout(reg) out, a = in(reg) a, b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack));
    }
    out
}

/// `acc + (a as i16)·(b as i16) + (a >> 16 as i16)·(b >> 16 as i16)`, wrapping as SMLAD does.
#[cfg(not(target_arch = "arm"))]
#[inline(always)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let lo = (a as u16 as i16 as i32) * (b as u16 as i16 as i32);
    let hi = ((a >> 16) as u16 as i16 as i32) * ((b >> 16) as u16 as i16 as i32);
    acc.wrapping_add(lo).wrapping_add(hi)
}

/// Two consecutive i16 values as one SMLAD operand (the first in the low half).
#[inline(always)]
pub fn pair(v: &[i16]) -> u32 {
    (v[0] as u16 as u32) | ((v[1] as u16 as u32) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smlad_is_the_dual_signed_product() {
        let vals = [0i16, 1, -1, 255, -255, 32767, -32768, 1234, -4321];
        for &a0 in &vals {
            for &a1 in &vals {
                for &b0 in &vals {
                    for &b1 in &[3i16, -32768, 32767] {
                        let (a, b) = (pair(&[a0, a1]), pair(&[b0, b1]));
                        let want = (7i64 + a0 as i64 * b0 as i64 + a1 as i64 * b1 as i64) as i32;
                        assert_eq!(smlad(a, b, 7), want, "{a0} {a1} {b0} {b1}");
                    }
                }
            }
        }
    }
}
