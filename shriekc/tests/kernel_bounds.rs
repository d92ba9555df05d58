//! The edges of what `check` accepts meet the edges of what the kernel
//! takes: the largest value `check` passes applies, and the first one it
//! refuses the kernel refuses too. A policy `check` passes and `apply`
//! then fails on is a broken promise; so is a refusal of something the
//! kernel would keep.
//!
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root or when namespaces cannot be made.

use shriek_testkit::{has_tool, temp_file, text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

fn policy(rule: &str) -> String {
    format!("table t {{\n  chain c hook input {{\n    {rule}\n  }}\n}}\n")
}

/// `limit` numbers at the kernel's 64-bit edges (`nft_limit_init`): the
/// rate plus the burst, and the nanoseconds per packet times the burst.
/// Each pair is (the largest `check` passes, the first it refuses), both
/// written as nft writes them so that the kernel's own answer is checked
/// as well.
#[test]
fn limits_check_refuses_exactly_what_the_kernel_refuses() {
    let Some(ns) = Netns::new("limit-edges") else { return };
    if !has_tool("nft") {
        return;
    }
    let edges = [
        ("limit 1/day burst 213503", "limit 1/day burst 213504"),
        ("limit 3/minute burst 922337203", "limit 3/minute burst 922337204"),
        ("limit 18446744073709551610/second", "limit 18446744073709551611/second"),
        ("limit 18446744073709551609/hour burst 6", "limit 18446744073709551610/hour burst 6"),
        ("limit 1/day burst 213503 per saddr", "limit 1/day burst 213504 per saddr"),
    ];
    ns.sh("nft add table inet raw; nft add chain inet raw c");
    for (n, (fits, past)) in edges.into_iter().enumerate() {
        // One file, so one policy, whose table each edge replaces.
        let file = temp_file(&format!("{}.shr", ns.name), &policy(&format!("{fits} accept")));
        let path = file.display().to_string();
        let out = shriek_testkit::run(BIN, &["check", &path]);
        assert_eq!(out.status.code(), Some(0), "{fits}: {}", text(&out.stderr));
        let out = shriek_testkit::run(BIN, &["apply", "--netns", &ns.name, &path]);
        assert_eq!(out.status.code(), Some(0), "{fits} applies: {}", text(&out.stderr));

        let file =
            temp_file(&format!("{}-{n}-past.shr", ns.name), &policy(&format!("{past} accept")));
        let out = shriek_testkit::run(BIN, &["check", &file.display().to_string()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{past}: {stderr}");
        assert!(stderr.contains("E0220(value-out-of-range)"), "{past}: {stderr}");

        // The kernel's side of each edge, through nft, without shriekc.
        if past.contains("per") {
            continue;
        }
        let nft = |l: &str| {
            let rate = l.replace("limit ", "limit rate ");
            let rate = if rate.contains("burst") { format!("{rate} packets") } else { rate };
            ns.try_sh(&format!("nft add rule inet raw c {rate} accept"))
        };
        assert!(nft(fits).is_ok(), "the kernel takes {fits}: {:?}", nft(fits));
        assert!(nft(past).is_err(), "the kernel refuses {past}");
    }
}

/// A base chain and the chains below it, reached with `depth` nested jumps
/// (a `goto` for the last when `goto`).
fn nested(depth: usize, goto: bool) -> String {
    let mut out =
        String::from("table t {\n  chain input hook input policy accept {\n    jump c1\n  }\n");
    for i in 1..depth {
        let verb = if goto && i + 1 == depth { "goto" } else { "jump" };
        out += &format!("  chain c{i} {{\n    {verb} c{}\n  }}\n", i + 1);
    }
    out + &format!("  chain c{depth} {{\n    accept\n  }}\n}}\n")
}

/// The kernel takes 15 nested jumps or gotos below a base chain and
/// refuses 16 (EMLINK): `check` passes the one and reports the other as
/// `chain-too-deep`, where it once passed both and only `apply` failed.
#[test]
fn nested_jumps_check_refuses_exactly_what_the_kernel_refuses() {
    let Some(ns) = Netns::new("jump-depth") else { return };
    if !has_tool("nft") {
        return;
    }
    for goto in [false, true] {
        let fits = temp_file(&format!("{}.shr", ns.name), &nested(15, goto));
        let path = fits.display().to_string();
        let out = shriek_testkit::run(BIN, &["check", &path]);
        assert_eq!(out.status.code(), Some(0), "15 deep: {}", text(&out.stderr));
        let out = shriek_testkit::run(BIN, &["apply", "--netns", &ns.name, &path]);
        assert_eq!(out.status.code(), Some(0), "15 deep applies: {}", text(&out.stderr));

        // The same file: the same policy, whose table the kernel keeps.
        let deep = temp_file(&format!("{}.shr", ns.name), &nested(16, goto));
        let path = deep.display().to_string();
        let out = shriek_testkit::run(BIN, &["check", &path]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "16 deep: {stderr}");
        assert!(stderr.contains("E0307(chain-too-deep)"), "{stderr}");
        let out = shriek_testkit::run(BIN, &["apply", "--force", "--netns", &ns.name, &path]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "the kernel refuses 16 deep: {stderr}");
        assert!(stderr.contains("E0506(jump-too-deep)"), "{stderr}");
        let kept = ns.nft(&["list", "table", "inet", "t"]);
        assert!(!kept.contains("chain c16"), "nothing of the refused policy stays:\n{kept}");
    }
}
