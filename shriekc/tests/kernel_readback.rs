//! Whatever writes a policy into the kernel, `plan` reads it back as the
//! policy: random sources of the whole language (testkit's `sources`,
//! their model domain: translation, limits, meters, connection state,
//! marks, logging, every hook) put into a namespace of this test's own, in
//! turn by `shriekc apply` and by `nft -f` of `shriekc compile` (text, and
//! libnftables JSON with `nft -j -f`), with each strategy; then `plan
//! --detailed-exitcode` must say `no changes`. A form nft writes its own
//! way that `plan` cannot read shows here as a change.
//!
//! `SHRIEK_READBACK_ROUNDS` (default 60) sources are tried, from the seed
//! `SHRIEK_READBACK_SEED` (default 1).
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use shriek_testkit::load::{load, plan_changes, LOADS};
use shriek_testkit::sources::{a_source, Domain};
use shriek_testkit::{has_tool, temp_file, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn every_way_into_the_kernel_reads_back_as_the_policy() {
    let Some(ns) = Netns::new("readback") else { return };
    if !has_tool("nft") {
        return;
    }
    let seed = env_number("SHRIEK_READBACK_SEED", 1);
    let rounds = env_number("SHRIEK_READBACK_ROUNDS", 60);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let mut loaded = 0;
    for round in 0..rounds {
        let source = a_source(Domain::Model).new_tree(&mut runner).expect("a source").current();
        let policy = source.text();
        // The model's sources may hold what resolve refuses (a translation
        // to the other family): nothing of those reaches the kernel.
        if shriek_compiler::resolve::resolve_str("readback.shr", &policy).policy.is_none() {
            continue;
        }
        loaded += 1;
        ns.sh("nft flush ruleset");
        let file = temp_file(&format!("readback-{}-{round}.shr", std::process::id()), &policy);
        let path = file.to_str().expect("utf-8 path");
        let (how, strategy) = LOADS[round as usize % LOADS.len()];
        let context = format!("round {round} (seed {seed}), {how:?} {strategy}\n{policy}");
        load(BIN, &ns, how, strategy, path, &context);
        if let Some(changes) = plan_changes(BIN, &ns, strategy, path) {
            panic!(
                "{context}\n`plan` sees changes:\n{changes}\n--- kernel ---\n{}",
                ns.nft(&["list", "ruleset"])
            );
        }
    }
    // Most sources resolve, or the law above says little.
    assert!(loaded * 2 > rounds, "only {loaded} of {rounds} sources resolved");
}
