//! `apply --replace` taking over a table it did not make, against the real
//! kernel: the table is made again (its user data, which names its
//! policy, cannot change), and each named counter whose name the policy
//! keeps goes on from the count it had.

use shriek_testkit::{text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

const POLICY: &str = "table takeover {
  chain input hook input policy accept {
    udp dport 7101 counter taken accept
    udp dport 7102 counter other accept
  }
}
";

fn shriekc(dir: &std::path::Path, args: &[&str]) -> String {
    let out = shriek_testkit::command(BIN).current_dir(dir).args(args).output().expect("shriekc");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{args:?}: {said}");
    said
}

/// Sends `n` datagrams to `port` on loopback inside the namespace.
fn send(ns: &Netns, port: u16, n: usize) {
    ns.sh(&format!(
        "{} -c 'import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range({n}): s.sendto(b\"x\", (\"127.0.0.1\", {port}))'",
        shriek_testkit::python()
    ));
}

fn counts(dir: &std::path::Path, ns: &Netns, file: &str) -> Vec<(String, u64)> {
    let out = shriekc(dir, &["counters", "--netns", &ns.name, "--format", "json", file]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("counters JSON");
    let list = doc["counters"].as_array().expect("a list of counters");
    list.iter()
        .map(|c| {
            (c["name"].as_str().expect("a name").into(), c["packets"].as_u64().expect("packets"))
        })
        .collect()
}

fn named(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(n, p)| (n.to_string(), *p)).collect()
}

#[test]
fn a_table_taken_over_keeps_the_counts_of_the_counters_it_keeps() {
    let Some(ns) = Netns::new("day2-takeover") else { return };
    let dir = std::env::temp_dir().join(format!("shriek-day2-takeover-{}", std::process::id()));
    for sub in ["mine", "theirs"] {
        std::fs::create_dir_all(dir.join(sub)).expect("temp dir");
        std::fs::write(dir.join(sub).join("takeover.shr"), POLICY).expect("write the policy");
    }
    let mine = dir.join("mine");
    let theirs = dir.join("theirs");

    // Loaded with `nft -f` from `compile`: no marker.
    let compiled = shriekc(&mine, &["compile", "takeover.shr"]);
    let file = dir.join("compiled.nft");
    std::fs::write(&file, compiled).expect("write compiled.nft");
    ns.sh(&format!("nft -f {}", file.display()));
    send(&ns, 7101, 5);
    send(&ns, 7102, 2);
    assert_eq!(counts(&mine, &ns, "takeover.shr"), named(&[("taken", 5), ("other", 2)]));

    // Taken over: made again, the counts carried over by name, and the
    // counters count on.
    let said = shriekc(&mine, &["apply", "--replace", "--netns", &ns.name, "takeover.shr"]);
    assert!(
        said.contains("replaced whole") && said.contains("carry over, by name, the counts"),
        "{said}"
    );
    assert!(ns.nft(&["list", "table", "inet", "takeover"]).contains("managed by shriekc"));
    send(&ns, 7101, 3);
    assert_eq!(counts(&mine, &ns, "takeover.shr"), named(&[("taken", 8), ("other", 2)]));

    // Another policy takes it over in turn, dropping one counter: the one
    // it keeps keeps its count.
    std::fs::write(
        theirs.join("takeover.shr"),
        POLICY.replace("    udp dport 7102 counter other accept\n", ""),
    )
    .expect("write the other policy");
    shriekc(&theirs, &["apply", "--replace", "--netns", &ns.name, "takeover.shr"]);
    send(&ns, 7101, 1);
    assert_eq!(counts(&theirs, &ns, "takeover.shr"), named(&[("taken", 9)]));
    let _ = std::fs::remove_dir_all(&dir);
}
