//! The kernel against the language: random sources (testkit's `sources`,
//! their kernel domain) put into a namespace of this test's own, in turn
//! by `shriekc apply` and by `nft -f` of `shriekc compile`, with each
//! strategy; `plan` must then read the kernel's tables back as the source
//! (`no changes`), whichever wrote them (`nft -f` also loads compile's
//! libnftables JSON). Then real packets are sent from a
//! raw socket on the output hook,
//! each verdict read from `sendto` (a packet the firewall drops or rejects
//! there fails with EPERM) and held to the verdict the test's evaluator,
//! written from docs/language.md, gives it.
//!
//! The packets carry what the model tests draw: both families, the
//! protocols with ports (SCTP included) and without (udplite, GRE, 0, 255),
//! ports 0 and 65535, every tcp flags byte, ICMP types and codes to 255,
//! marks to 0xffffffff (`SO_MARK`), and two interfaces to leave by. IPv6
//! packets carry extension headers in front of their protocol, in turn:
//! none, hop-by-hop options, destination options, routing, fragment, or
//! all four, which the kernel reads past to find the protocol.
//! `SHRIEK_VERDICT_ROUNDS` (default 40) sources are tried, from the seed
//! `SHRIEK_VERDICT_SEED` (default 1).
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use shriek_compiler::emit::packet_text;
use shriek_compiler::eval::LimitMode;
use shriek_compiler::ir::Outcome;
use shriek_compiler::space::Family;
use shriek_testkit::load::{load, plan_changes, LOADS};
use shriek_testkit::raw::{self, Raw, Sent};
use shriek_testkit::sources::{source_and_packets, Domain};
use shriek_testkit::{has_tool, temp_file, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The IPv6 extension headers the `n`th packet carries in front of its
/// protocol.
const EXTENSION_HEADERS: [&[u8]; 6] = [&[], &[0], &[60], &[43], &[44], &[0, 43, 44, 60]];

#[test]
fn the_kernel_gives_random_sources_the_languages_verdicts() {
    let Some(ns) = Netns::new("verdicts") else { return };
    if !has_tool("nft") {
        return;
    }
    // Two interfaces to leave by, `ab` (the default routes) and `b`
    // (10.0.1.0/24, fd00::1:0/112), as the kernel domain's packets expect:
    // veths whose peers stay in the namespace, with no chain on their way
    // in, and no neighbour to resolve (`arp off`), so that no send waits
    // on one or fails for want of it.
    ns.sh(
        "ip link add name ab type veth peer name abpeer && ip link add name b type veth peer name bpeer \
         && ip link set abpeer up && ip link set bpeer up \
         && ip link set dev ab up arp off && ip link set dev b up arp off \
         && ip addr add 192.0.2.1/32 dev ab && ip -6 addr add fd01::1/128 dev ab nodad \
         && ip route add default dev ab && ip route add 10.0.1.0/24 dev b \
         && ip -6 route add default dev ab && ip -6 route add fd00::1:0/112 dev b",
    );
    let seed = env_number("SHRIEK_VERDICT_SEED", 1);
    let rounds = env_number("SHRIEK_VERDICT_ROUNDS", 40);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let (mut accepted, mut refused) = (0, 0);
    // Rounds whose port map jumps to address maps' lookups (two-level
    // dispatch, `lower/dispatch/tree.rs`).
    let mut trees = 0;
    for round in 0..rounds {
        let (source, packets) = source_and_packets(Domain::Kernel, 48)
            .new_tree(&mut runner)
            .expect("a source")
            .current();
        let policy = source.text();
        // The tables of the last round go: this round may have fewer.
        ns.sh("nft flush ruleset");
        let file = temp_file(&format!("verdicts-{}-{round}.shr", std::process::id()), &policy);
        let path = file.to_str().expect("utf-8 path");
        let (how, strategy) = LOADS[round as usize % LOADS.len()];
        let context = format!("round {round} (seed {seed}), {how:?} {strategy}\n{policy}");
        load(BIN, &ns, how, strategy, path, &context);
        // What is in the kernel reads back as the policy, either way.
        if let Some(changes) = plan_changes(BIN, &ns, strategy, path) {
            panic!("{context}\n`plan` sees changes:\n{changes}");
        }
        let raws: Vec<Raw<'_>> = packets
            .iter()
            .enumerate()
            .map(|(n, packet)| Raw {
                packet,
                ext: if packet.family == Family::V6 {
                    EXTENSION_HEADERS[n % EXTENSION_HEADERS.len()]
                } else {
                    &[]
                },
            })
            .collect();
        let answers = raw::send(&ns, &raws);
        let listing = ns.nft(&["list", "ruleset"]);
        trees += usize::from(listing.contains("lookups of chain") || listing.contains("_port"));
        let mut wrong = Vec::new();
        for (raw, answer) in raws.iter().zip(&answers) {
            let p = raw.packet;
            let want = source.evaluate(p, LimitMode::UnderRate);
            let got = match answer {
                Sent::Accepted => Outcome::Accept,
                Sent::Refused => Outcome::Drop,
                Sent::Failed(e) => panic!("sending {} failed with {e}\n{policy}", packet_text(p)),
            };
            if got == Outcome::Accept {
                accepted += 1;
            } else {
                refused += 1;
            }
            if (want == Outcome::Accept) != (got == Outcome::Accept) {
                wrong.push(format!(
                    "{} mark {:#x}, extension headers {:?}: want {want:?}, the kernel {got:?}",
                    packet_text(p),
                    p.mark,
                    raw.ext
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "round {round} (seed {seed}), {how:?} {strategy}:\n{}\n--- source ---\n{policy}\n--- kernel ---\n{}",
            wrong.join("\n"),
            ns.nft(&["list", "ruleset"])
        );
    }
    // Both fates are common, or the comparison above says little.
    assert!(accepted > 50 && refused > 50, "{accepted} accepted, {refused} refused");
    // The default rounds build two-level dispatch, or the tree goes untried.
    assert!(rounds < 40 || trees > 0, "no round of {rounds} built a two-level dispatch");
    eprintln!("{trees} of {rounds} rounds with a two-level dispatch");
}
