//! Splitting a dataset-scale run across the tasks of a job array, and putting it back together.
//!
//! A run over a sorted list of items (clips, batches of clips) is cut into `N` shards: shard
//! `i` takes the items whose block (`item / block`) is ≡ i mod N, so every shard holds the same
//! blocks as the unsharded run (a batch of the unsharded run is a batch of exactly one shard)
//! and the shards interleave (each gets a fair share of long and short clips). Each shard's JSON
//! names its place (`[i, N]`) and a [`digest`] of the whole run's item list; a merge checks that
//! the parts carry one digest and the same settings, and that each shard of 0..N is there once
//! ([`check_parts`]), then rebuilds the unsharded result from the union of the items.
//!
//! `--shard auto` reads the place from the scheduler: Slurm job arrays (`SLURM_ARRAY_TASK_ID`,
//! with the count from `SLURM_ARRAY_TASK_COUNT` on an array `0-(N-1)`) or Kubernetes Indexed
//! Jobs (`JOB_COMPLETION_INDEX`, with N given as `auto/N`). `auto/N` also reads
//! `SLURM_ARRAY_TASK_ID`, so one lost shard can be resubmitted alone (`sbatch --array=2`).
//!
//! JSON files are written under a temporary name and renamed at the end ([`write_atomic`]): a
//! task killed halfway leaves no file that could pass for a finished shard.

use std::fmt;
use std::path::{Path, PathBuf};

/// One shard of a run: `index` of `count` (`0/1` is the whole run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardError(pub String);

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShardError {}

fn err(s: impl Into<String>) -> ShardError {
    ShardError(s.into())
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The unsharded run.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: usize, count: usize) -> Result<Shard, ShardError> {
        if count == 0 || index >= count {
            return Err(err(format!("shard {index}/{count}: need 0 ≤ i < N")));
        }
        Ok(Shard { index, count })
    }

    /// `[i, N]`, as the JSON records it.
    pub fn pair(&self) -> [usize; 2] {
        [self.index, self.count]
    }

    pub fn from_pair(p: [usize; 2]) -> Result<Shard, ShardError> {
        Shard::new(p[0], p[1])
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// `i/N`, `auto` or `auto/N`, reading the scheduler's variables from the process
    /// environment.
    pub fn parse(spec: &str) -> Result<Shard, ShardError> {
        Shard::parse_with(spec, |k| std::env::var(k).ok())
    }

    /// [`Shard::parse`] with the environment given as a lookup (for tests).
    pub fn parse_with(spec: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let spec = spec.trim();
        let num = |what: &str, v: &str| -> Result<usize, ShardError> {
            v.trim().parse::<usize>().map_err(|_| err(format!("--shard {spec}: {what} `{v}` is not a whole number")))
        };
        let var = |k: &str| -> Result<Option<usize>, ShardError> {
            match env(k) {
                Some(v) if !v.trim().is_empty() => {
                    Ok(Some(v.trim().parse::<usize>().map_err(|_| err(format!("--shard {spec}: {k}={v} is not a whole number")))?))
                }
                _ => Ok(None),
            }
        };
        let at = |index: usize, count: usize| Shard::new(index, count).map_err(|e| err(format!("--shard {spec}: {e}")));
        if spec == "auto" {
            if let Some(id) = var("SLURM_ARRAY_TASK_ID")? {
                let count = var("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| err("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not"))?;
                let (min, max) = (var("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0), var("SLURM_ARRAY_TASK_MAX")?.unwrap_or(count.saturating_sub(1)));
                let step = var("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1);
                if min != 0 || step != 1 || max + 1 != count {
                    return Err(err(format!(
                        "--shard auto: the array is {min}-{max}:{step} ({count} tasks); `auto` needs --array=0-(N-1), \
                         use --shard auto/N for a partial array (e.g. one resubmitted shard)"
                    )));
                }
                return at(id, count);
            }
            if env("JOB_COMPLETION_INDEX").is_some() {
                return Err(err("--shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): give the count, --shard auto/N (N = the Job's completions)"));
            }
            return Err(err("--shard auto: no job-array index in the environment (SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)"));
        }
        let (i, n) = spec.split_once('/').ok_or_else(|| err(format!("--shard {spec}: expected i/N, auto or auto/N")))?;
        let count = num("N", n)?;
        if i.trim() == "auto" {
            let index = match (var("SLURM_ARRAY_TASK_ID")?, var("JOB_COMPLETION_INDEX")?) {
                (Some(id), _) => id,
                (None, Some(id)) => id,
                (None, None) => return Err(err(format!("--shard {spec}: no job-array index in the environment (SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)"))),
            };
            return at(index, count);
        }
        at(num("i", i)?, count)
    }

    /// Whether this shard takes `item` when the items go in blocks of `block` (1: one by one).
    pub fn takes(&self, item: usize, block: usize) -> bool {
        (item / block.max(1)) % self.count == self.index
    }

    /// The items of `0..len` this shard takes, in order.
    pub fn indices(&self, len: usize, block: usize) -> Vec<usize> {
        (0..len).filter(|&i| self.takes(i, block)).collect()
    }

    /// This shard's items of `items`, in order.
    pub fn pick<T: Clone>(&self, items: &[T], block: usize) -> Vec<T> {
        self.indices(items.len(), block).into_iter().map(|i| items[i].clone()).collect()
    }

    /// The file name suffix of this shard's outputs: `shard-I-of-N` (zero-padded so the files
    /// sort in order).
    pub fn file_tag(&self) -> String {
        let w = (self.count.max(2) - 1).to_string().len();
        format!("shard-{:0w$}-of-{}", self.index, self.count)
    }
}

/// A digest of a run's whole item list (in order): 64-bit FNV-1a over the names, each followed
/// by a NUL, as 16 hex digits. Shards of one run carry the same digest; a shard cut from
/// another listing (a clip more or less, another folder) does not. Hand-written: a fingerprint,
/// not a security boundary, and stable across versions, which a std `Hasher` is not.
pub fn digest<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for s in items {
        for &b in s.as_ref().as_bytes().iter().chain(std::iter::once(&0u8)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// [`digest`] of a list of paths (their full text).
pub fn digest_paths<P: AsRef<Path>>(paths: &[P]) -> String {
    digest(paths.iter().map(|p| p.as_ref().to_string_lossy().into_owned()))
}

/// What a merge knows of one part: its file (for messages), its place, and a key of the run it
/// belongs to (settings and input digest; equal keys = one run).
#[derive(Debug, Clone)]
pub struct Part {
    pub file: PathBuf,
    pub shard: Shard,
    pub run: String,
}

/// Checks that `parts` make up one whole run: one run key, one count N, each shard of 0..N
/// exactly once. Returns N. The messages name the missing, doubled or foreign shard.
pub fn check_parts(parts: &[Part]) -> Result<usize, ShardError> {
    let first = parts.first().ok_or_else(|| err("nothing to merge"))?;
    let total = first.shard.count;
    let mut seen: Vec<Option<&Path>> = vec![None; total];
    for p in parts {
        if p.run != first.run {
            return Err(err(format!(
                "{} (shard {}) is not from the same run as {} (shard {}): {} against {}",
                p.file.display(),
                p.shard,
                first.file.display(),
                first.shard,
                p.run,
                first.run
            )));
        }
        if p.shard.count != total {
            return Err(err(format!("{} is shard {} but {} is shard {}: one run has one count N", p.file.display(), p.shard, first.file.display(), first.shard)));
        }
        if let Some(other) = seen[p.shard.index] {
            return Err(err(format!("shard {} is given twice: {} and {}", p.shard, other.display(), p.file.display())));
        }
        seen[p.shard.index] = Some(p.file.as_path());
    }
    let missing: Vec<String> = seen.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| format!("{i}/{total}")).collect();
    if !missing.is_empty() {
        return Err(err(format!(
            "shard{} {} {} missing ({} of {total} given): rerun {} (results depend on the seed only), then merge again",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            if missing.len() > 1 { "are" } else { "is" },
            parts.len(),
            if missing.len() > 1 { "them" } else { "it" },
        )));
    }
    Ok(total)
}

/// Puts shard items back in the unsharded order: `parts[k]` holds the items of shard
/// `shards[k]` (in its order) of a run of `len` items in blocks of `block`.
pub fn interleave<T>(len: usize, block: usize, parts: Vec<(Shard, Vec<T>)>) -> Result<Vec<T>, ShardError> {
    let mut slots: Vec<Option<T>> = (0..len).map(|_| None).collect();
    for (shard, items) in parts {
        let idx = shard.indices(len, block);
        if idx.len() != items.len() {
            return Err(err(format!("shard {shard} holds {} items, but its share of a run of {len} is {}", items.len(), idx.len())));
        }
        for (i, item) in idx.into_iter().zip(items) {
            slots[i] = Some(item);
        }
    }
    slots.into_iter().enumerate().map(|(i, s)| s.ok_or_else(|| err(format!("item {i} of {len} is in no shard")))).collect()
}

/// Writes `contents` to `path` through a temporary file in the same folder, synced and then
/// renamed over `path`: readers see the old file or the whole new one, never a part.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn parses_explicit_and_scheduler_shards() {
        assert_eq!(Shard::parse_with("2/4", env(&[])).unwrap(), Shard { index: 2, count: 4 });
        assert!(Shard::parse_with("4/4", env(&[])).is_err());
        assert!(Shard::parse_with("0/0", env(&[])).is_err());
        assert!(Shard::parse_with("x/4", env(&[])).is_err());
        let slurm = [("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "8"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_MAX", "7")];
        assert_eq!(Shard::parse_with("auto", env(&slurm)).unwrap(), Shard { index: 3, count: 8 });
        // One shard resubmitted alone (--array=5): `auto` refuses, `auto/8` takes the id.
        let one = [("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_MAX", "5")];
        let e = Shard::parse_with("auto", env(&one)).unwrap_err();
        assert!(e.0.contains("auto/N"), "{e}");
        assert_eq!(Shard::parse_with("auto/8", env(&one)).unwrap(), Shard { index: 5, count: 8 });
        let k8s = [("JOB_COMPLETION_INDEX", "1")];
        assert!(Shard::parse_with("auto", env(&k8s)).unwrap_err().0.contains("auto/N"));
        assert_eq!(Shard::parse_with("auto/3", env(&k8s)).unwrap(), Shard { index: 1, count: 3 });
        assert!(Shard::parse_with("auto/3", env(&[("JOB_COMPLETION_INDEX", "3")])).is_err());
        assert!(Shard::parse_with("auto", env(&[])).is_err());
    }

    #[test]
    fn shards_partition_the_items_by_block() {
        for (len, block, n) in [(10, 1, 4), (37, 16, 3), (5, 16, 4), (0, 1, 2), (100, 7, 7)] {
            let mut all: Vec<usize> = (0..n).flat_map(|i| Shard::new(i, n).unwrap().indices(len, block)).collect();
            all.sort();
            assert_eq!(all, (0..len).collect::<Vec<_>>(), "len {len} block {block} N {n}");
            for i in 0..n {
                // Whole blocks only: a block of the unsharded run lies in one shard.
                let idx = Shard::new(i, n).unwrap().indices(len, block);
                assert!(idx.iter().all(|&j| (j / block) % n == i));
            }
        }
        // 10 clips, 4 shards, one by one: 0 4 8 | 1 5 9 | 2 6 | 3 7; in blocks of 3 over 2 shards:
        // blocks [0 1 2] [6 7 8] | [3 4 5] [9].
        assert_eq!(Shard::new(1, 4).unwrap().indices(10, 1), vec![1, 5, 9]);
        assert_eq!(Shard::new(1, 2).unwrap().indices(10, 3), vec![3, 4, 5, 9]);
    }

    #[test]
    fn interleave_restores_the_order() {
        let items: Vec<usize> = (0..23).collect();
        let n = 3;
        let parts: Vec<(Shard, Vec<usize>)> = (0..n).rev().map(|i| (Shard::new(i, n).unwrap(), Shard::new(i, n).unwrap().pick(&items, 4))).collect();
        assert_eq!(interleave(items.len(), 4, parts).unwrap(), items);
        let short = vec![(Shard::new(0, 2).unwrap(), vec![0usize])];
        assert!(interleave(4, 1, short).is_err());
    }

    #[test]
    fn check_parts_names_the_missing_shard() {
        let part = |i: usize, n: usize, run: &str| Part { file: format!("s{i}.json").into(), shard: Shard::new(i, n).unwrap(), run: run.into() };
        assert_eq!(check_parts(&[part(1, 3, "a"), part(0, 3, "a"), part(2, 3, "a")]).unwrap(), 3);
        let e = check_parts(&[part(0, 4, "a"), part(1, 4, "a"), part(3, 4, "a")]).unwrap_err();
        assert!(e.0.starts_with("shard 2/4 is missing"), "{e}");
        let e = check_parts(&[part(0, 4, "a"), part(3, 4, "a")]).unwrap_err();
        assert!(e.0.starts_with("shards 1/4, 2/4 are missing"), "{e}");
        assert!(check_parts(&[part(0, 2, "a"), part(0, 2, "a"), part(1, 2, "a")]).unwrap_err().0.contains("given twice"));
        assert!(check_parts(&[part(0, 2, "a"), part(1, 2, "b")]).unwrap_err().0.contains("not from the same run"));
        assert!(check_parts(&[part(0, 2, "a"), part(1, 3, "a")]).is_err());
        assert!(check_parts(&[]).is_err());
    }

    #[test]
    fn digest_is_fnv1a_and_sees_the_list() {
        // FNV-1a 64 of the single byte 0 (the separator after an empty name): offset basis
        // xor 0, times the prime, mod 2^64 (reference value of the FNV specification).
        assert_eq!(digest([""]), format!("{:016x}", 0xcbf2_9ce4_8422_2325u64.wrapping_mul(0x100_0000_01b3)));
        // FNV-1a 64("a") = af63dc4c8601ec8c (the specification's test vector); then the NUL.
        let a = 0xaf63_dc4c_8601_ec8cu64.wrapping_mul(0x100_0000_01b3);
        assert_eq!(digest(["a"]), format!("{a:016x}"));
        assert_ne!(digest(["a", "b"]), digest(["ab"]));
        assert_ne!(digest(["a", "b"]), digest(["b", "a"]));
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = std::env::temp_dir().join(format!("soundproof-shard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.json");
        write_atomic(&p, b"{\"a\": 1}\n").unwrap();
        write_atomic(&p, b"{\"a\": 2}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\": 2}\n");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 1, "temporary files left: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
