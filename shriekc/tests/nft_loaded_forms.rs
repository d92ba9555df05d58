//! What `nft -f` makes of `shriekc compile`'s output reads back as the
//! policy: nft writes some matches in other kernel forms than `apply`'s
//! own batch (neighbouring fields merged into one compare, a mark set in
//! host order), and `plan` must read them as the rules they are, or it
//! lists changes where there are none. Each strategy, into a namespace of
//! the test's own.
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use shriek_testkit::load::{load, plan_changes, Load};
use shriek_testkit::{has_tool, temp_file, Netns};

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
    # nft 1.0.6 merges each pair into one compare that tests not both.
    sctp sport != 1023 sctp dport != 22 drop
    icmp type != 8 icmp code != 3 drop
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
        for how in [Load::NftText, Load::NftJson] {
            load(BIN, &ns, how, strategy, path, strategy);
            let kernel = ns.nft(&["--debug=netlink", "list", "ruleset"]);
            if let Some(changes) = plan_changes(BIN, &ns, strategy, path) {
                panic!("{strategy}: `plan` after {how:?}:\n{changes}\n--- kernel ---\n{kernel}");
            }
            // Each `!=` stays a compare of its own field: one compare of
            // both ports (4 bytes) or of ICMP type and code (2 bytes from
            // the transport header's start) would let through what the
            // rule stops.
            let merged = kernel.lines().collect::<Vec<_>>().windows(2).any(|w| {
                (w[0].contains("load 4b @ transport header + 0")
                    || w[0].contains("load 2b @ transport header + 0"))
                    && w[1].contains("cmp neq")
            });
            assert!(!merged, "{strategy}, {how:?}: nft merged two `!=`:\n{kernel}");
            ns.sh("nft flush ruleset");
        }
    }
}
