//! What `nft -f` makes of `shriekc compile`'s output reads back as the
//! policy: nft writes some matches in other kernel forms than `apply`'s
//! own batch (neighbouring fields merged into one compare, a mark set in
//! host order), and `plan` must read them as the rules they are, or it
//! lists changes where there are none. Each strategy, into a namespace of
//! the test's own.
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use shriek_testkit::{has_tool, temp_file, text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// Each rule holds a form nft writes its own way.
const POLICY: &str = "table forms {
  chain output hook output policy accept {
    # nft loads both ports in one 4-byte compare.
    tcp sport 65535 tcp dport 22 drop
    udp sport 1 udp dport 2 drop
    # nft keeps these marks in host order, with no byteorder.
    mark { 0xff, 0xffffffff } drop
    # A range with named ends (tcp to udp).
    proto 6-17 oif lo drop
  }
}
";

#[test]
fn compile_loaded_by_nft_reads_back_as_the_policy() {
    let Some(ns) = Netns::new("nft-forms") else { return };
    if !has_tool("nft") {
        return;
    }
    let file = temp_file(&format!("nft-forms-{}.shr", std::process::id()), POLICY);
    let path = file.to_str().expect("utf-8 path");
    for strategy in ["sequential", "dispatch", "auto"] {
        let compiled = shriek_testkit::run(BIN, &["compile", "--strategy", strategy, path]);
        assert_eq!(compiled.status.code(), Some(0), "{}", text(&compiled.stderr));
        let script = temp_file(&format!("nft-forms-{strategy}.nft"), &text(&compiled.stdout));
        ns.sh(&format!("nft -f {}", script.display()));
        let plan = shriek_testkit::run(
            BIN,
            &["plan", "--detailed-exitcode", "--strategy", strategy, "--netns", &ns.name, path],
        );
        assert_eq!(
            plan.status.code(),
            Some(0),
            "{strategy}: `plan` after `nft -f`:\n{}{}\n--- kernel ---\n{}",
            text(&plan.stdout),
            text(&plan.stderr),
            ns.nft(&["--debug=netlink", "list", "ruleset"])
        );
        ns.sh("nft flush ruleset");
    }
}
