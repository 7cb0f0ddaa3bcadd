//! `soundproof demo --events` (plain lines, unpaced): the shipped ESC-10 model names the five
//! sounds of the shipped recording in the order `models/demo/ATTRIBUTION-events.md` lists them,
//! and certifies windows online.

use soundproof_tests::{root, soundproof_bin};
use std::process::Command;

#[test]
fn demo_events_names_the_sounds_in_sequence_and_certifies_them() {
    // The sequence as the attribution file lists it (one table row per clip, class in column 2).
    let attribution = std::fs::read_to_string(root().join("models/demo/ATTRIBUTION-events.md")).unwrap();
    let truth: Vec<&str> = attribution
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(".wav"))
        .map(|l| l.split('|').nth(2).unwrap().trim())
        .collect();
    assert_eq!(truth.len(), 5, "{attribution}");
    // A small look schedule keeps the test short; the certificates are the same machinery.
    let o = Command::new(soundproof_bin())
        .current_dir(root())
        .args(["demo", "--events", "--plain", "--fast", "--n-max", "256", "--budget-ms", "60000"])
        .output()
        .expect("run soundproof demo --events");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "demo --events failed:\n{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("esc10-resnet18-int8") && out.contains("models/demo/events.wav"), "{out}");
    let heard = out.lines().find_map(|l| l.strip_prefix("heard: ")).expect("a heard line");
    assert_eq!(heard.split_whitespace().collect::<Vec<_>>(), truth, "{out}");
    // Every fourth window (the non-overlapping 5-s windows) is certified; an unpaced file waits
    // for the certifier, so none is skipped.
    let certified = out.lines().filter(|l| l.contains("certified [")).count();
    assert!(certified >= 9, "{certified} certificate lines:\n{out}");
    assert!(out.contains("(0 skipped while the certifier was busy)"), "{out}");
    assert!(out.lines().any(|l| l.contains("certified [") && l.contains('✓') && l.contains("SNR_cert")), "{out}");
}
