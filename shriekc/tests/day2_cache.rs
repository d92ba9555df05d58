//! The day-2 cache (`runtime/src/cache.rs`) against the real kernel: a
//! random sequence of one-rule changes, each after a random drift (`nft`
//! adding or deleting a map element or a rule, an unrelated table made,
//! the cache file damaged, cut off or swapped for an older one), plans as
//! a reading without the cache plans, and every apply ends with `plan`
//! saying `no changes` (with and without the cache) and the live table
//! what a fresh apply of the same policy makes in a namespace of its own.

use std::path::{Path, PathBuf};

use shriek_testkit::{has_tool, text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");
const TABLE: &str = "cached";

/// `shriekc ARGS` in `dir`, the cache used unless `cached` is false; the
/// exit code and standard output.
fn shriekc(dir: &Path, cached: bool, args: &[&str]) -> (i32, String) {
    let mut cmd = shriek_testkit::command(BIN);
    cmd.current_dir(dir).args(args);
    if !cached {
        cmd.env("SHRIEKC_NO_CACHE", "1");
    }
    let out = cmd.output().expect("shriekc");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 2, "{args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    (code, text(&out.stdout))
}

/// One rule of the policy: `PROTO dport PORT VERDICT`, or a `barrier`
/// (`saddr 10.1.2.3 drop`), which splits the run of port rules, and so
/// their map, in two.
#[derive(Clone)]
struct Rule {
    udp: bool,
    port: u16,
    drop: bool,
    barrier: bool,
}

fn policy(rules: &[Rule]) -> String {
    let mut out = format!("table {TABLE} {{\n  chain input hook input policy accept {{\n");
    for r in rules {
        if r.barrier {
            out += "    saddr 10.1.2.3 drop\n";
            continue;
        }
        let proto = if r.udp { "udp" } else { "tcp" };
        let verdict = if r.drop { "drop" } else { "accept" };
        out += &format!("    {proto} dport {} {verdict}\n", r.port);
    }
    out + "  }\n}\n"
}

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The table as `nft -s` lists it, each map's elements sorted (a hash
/// map lists them in its hash's order, which differs between namespaces),
/// without comments (what stays in place keeps the lines it came from),
/// each map by the policy's name and its blocks sorted (the kernel lists
/// sets in the order they were made, and a map made anew beside the old
/// one comes after the others).
fn listing(ns: &Netns) -> String {
    let listed = ns.nft(&["-s", "list", "table", "inet", TABLE]);
    let mut out = String::new();
    let mut items: Option<Vec<String>> = None;
    for line in listed.lines() {
        let named = policy_names(line.trim());
        let line = named.as_str();
        let line = line.split_once("comment \"").map_or(line, |(head, _)| head).trim_end();
        let rest = match (&mut items, line.split_once("elements = {")) {
            (None, Some((_, rest))) => {
                items = Some(Vec::new());
                rest
            }
            (None, None) => {
                out += line;
                out += "\n";
                continue;
            }
            (Some(_), _) => line,
        };
        let (body, closed) = match rest.split_once('}') {
            Some((body, _)) => (body, true),
            None => (rest, false),
        };
        let list = items.as_mut().expect("inside a list of elements");
        list.extend(body.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from));
        if closed {
            let mut list = items.take().expect("inside a list of elements");
            list.sort();
            out += &format!("elements = {{ {} }}\n", list.join(", "));
        }
    }
    let mut blocks: Vec<&str> = out.split("\n\n").collect();
    blocks.sort_unstable();
    blocks.join("\n\n")
}

/// `line` with each map made anew beside the old one (`shriekc/staged/
/// GENID/NAME`, see `runtime/src/apply/beside.rs`) named as the policy
/// names it, as `plan` reads it back.
fn policy_names(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("shriekc/staged/") {
        out += &rest[..at];
        let after = &rest[at + "shriekc/staged/".len()..];
        rest = after.split_once('/').map_or(after, |(_, name)| name);
    }
    out + rest
}

/// The kernel's name of the first run's map, `input_dport` as the policy
/// names it (staged, once made anew beside the old one).
fn live_map(ns: &Netns) -> String {
    let listed = ns.nft(&["list", "table", "inet", TABLE]);
    let name = listed.lines().filter_map(|l| l.trim().strip_prefix("map ")?.strip_suffix(" {"));
    name.into_iter()
        .find(|n| *n == "input_dport" || n.ends_with("/input_dport"))
        .unwrap_or("input_dport")
        .to_string()
}

/// The cache file of the table in `ns`: the binary keeps it in the test
/// process's run folder.
fn cache_file(ns: &Netns) -> Option<PathBuf> {
    let file = shriek_runtime::day2_cache_path(Some(&ns.name), TABLE)?;
    Some(shriek_testkit::run_dir().join("day2").join(file.file_name()?))
}

#[test]
fn random_changes_and_drift_plan_and_apply_as_without_the_cache() {
    let Some(ns) = Netns::new("d2cache") else { return };
    let Some(fresh) = Netns::new("d2cachefresh") else { return };
    if !has_tool("nft") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("shriek-day2-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("web.shr");
    let seed = 0x5eed_d2c4_u64 ^ u64::from(std::process::id());
    let mut rng = Rng(seed);
    let mut rules: Vec<Rule> = (0..60)
        .map(|i| Rule {
            udp: i % 2 == 1,
            port: 100 + i as u16 / 2,
            drop: i % 4 >= 2,
            barrier: false,
        })
        .collect();
    let mut next_port = 1000u16;
    let mut older: Option<Vec<u8>> = None;
    let ns_args = ["--netns", ns.name.as_str()];
    let apply = |cached: bool, netns: &Netns| {
        let (code, out) = shriekc(
            &dir,
            cached,
            &["apply", "--strategy", "auto", "--netns", &netns.name, "web.shr"],
        );
        assert_eq!(code, 0, "apply: {out}");
        out
    };
    std::fs::write(&file, policy(&rules)).expect("write the policy");
    apply(true, &ns);
    let steps = shriek_testkit::prop_cases(16);
    for step in 0..steps {
        let at = format!("seed {seed:#x}, step {step}");
        // A one-rule change. A barrier that comes or goes changes rules
        // and the maps' elements at once: the maps are made anew beside
        // the old ones, under staged names, which the cache keeps too.
        let i = rng.below(rules.len());
        match rng.below(5) {
            4 => match rules.iter().position(|r| r.barrier) {
                Some(b) => drop(rules.remove(b)),
                None => rules.insert(i, Rule { udp: false, port: 0, drop: true, barrier: true }),
            },
            0 => {
                rules[i].port = next_port;
                next_port += 1;
            }
            1 => rules[i].drop = !rules[i].drop,
            2 if rules.len() > 4 => {
                rules.remove(i);
            }
            _ => {
                let udp = rng.below(2) == 1;
                let drop = rng.below(2) == 1;
                rules.insert(i, Rule { udp, port: next_port, drop, barrier: false });
                next_port += 1;
            }
        }
        // A drift between the applies.
        let cache = cache_file(&ns).expect("a cache path");
        match rng.below(8) {
            1 => drop(ns.try_sh(&format!(
                "nft add element inet {TABLE} '{}' '{{ tcp . 9999 : drop }}'",
                live_map(&ns)
            ))),
            2 => {
                let port = rules.iter().find(|r| !r.udp && !r.barrier).map_or(100, |r| r.port);
                drop(ns.try_sh(&format!(
                    "nft delete element inet {TABLE} '{}' '{{ tcp . {port} }}'",
                    live_map(&ns)
                )));
            }
            3 => drop(ns.try_sh(&format!("nft add rule inet {TABLE} input tcp dport 61000 drop"))),
            4 => {
                if let Ok(mut bytes) = std::fs::read(&cache) {
                    let mid = bytes.len() / 2;
                    bytes[mid] ^= 0x5a;
                    std::fs::write(&cache, bytes).expect("damage the cache");
                }
            }
            5 => {
                if let Ok(bytes) = std::fs::read(&cache) {
                    std::fs::write(&cache, &bytes[..bytes.len() / 3]).expect("cut the cache");
                }
            }
            6 => {
                if let Some(old) = &older {
                    std::fs::write(&cache, old).expect("an older cache");
                }
            }
            7 => drop(ns.try_sh("nft add table inet unrelated")),
            _ => {}
        }
        older = std::fs::read(&cache).ok().or(older);
        std::fs::write(&file, policy(&rules)).expect("write the policy");
        // The plan is the one a reading without the cache makes.
        let mut plan = vec!["plan"];
        plan.extend(ns_args);
        plan.push("web.shr");
        let with = shriekc(&dir, true, &plan);
        let without = shriekc(&dir, false, &plan);
        assert_eq!(with, without, "{at}: the plans differ");
        apply(true, &ns);
        assert!(cache.exists(), "{at}: apply left no cache");
        // (A rule that moved to another line is said to have, below.)
        let with = shriekc(&dir, true, &plan);
        assert_eq!((with.0, with.1.lines().next()), (0, Some("no changes")), "{at}");
        assert_eq!(with, shriekc(&dir, false, &plan), "{at}: the plans differ after the apply");
        // The live table is what a fresh apply of the policy makes.
        drop(fresh.try_sh(&format!("nft delete table inet {TABLE}")));
        apply(false, &fresh);
        assert_eq!(listing(&ns), listing(&fresh), "{at}: the live tables differ");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The cache files in the test process's run folder, by name.
fn cache_files() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(shriek_testkit::run_dir().join("day2")) else {
        return Vec::new();
    };
    let mut names: Vec<String> =
        dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn the_files_stay_one_per_table_and_live_namespace() {
    let Some(ns) = Netns::new("d2files") else { return };
    let dir = std::env::temp_dir().join(format!("shriek-day2-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rules: Vec<Rule> = (0..8)
        .map(|i| Rule { udp: i % 2 == 1, port: 100 + i as u16, drop: false, barrier: false })
        .collect();
    let apply = |body: &str, extra: &[&str]| {
        std::fs::write(dir.join("web.shr"), body).expect("write the policy");
        let mut args = vec!["apply", "--netns", ns.name.as_str()];
        args.extend(extra);
        args.push("web.shr");
        let (code, out) = shriekc(&dir, true, &args);
        assert_eq!(code, 0, "apply: {out}");
    };
    let file_of = |table: &str| {
        let path = shriek_runtime::day2_cache_path(Some(&ns.name), table).expect("a cache path");
        path.file_name().expect("a file name").to_string_lossy().into_owned()
    };
    // A file left by a namespace that is gone (a test's, a bench's).
    let gone =
        format!("ffff-ffff-{}", "gone".bytes().map(|b| format!("{b:02x}")).collect::<String>());
    apply(&policy(&rules), &[]);
    assert!(cache_files().contains(&file_of(TABLE)), "{:?}", cache_files());
    let gone_path = shriek_testkit::run_dir().join("day2").join(&gone);
    std::fs::write(&gone_path, b"stale").expect("a stale file");
    // The next commit sweeps it; the live namespace's file stays.
    apply(&policy(&rules[1..]), &[]);
    let files = cache_files();
    assert!(!files.contains(&gone), "a gone namespace's file stays: {files:?}");
    assert!(files.contains(&file_of(TABLE)), "{files:?}");
    // A table renamed and its old one pruned: its file goes with it.
    let renamed = policy(&rules).replace(&format!("table {TABLE} "), "table renamed ");
    apply(&renamed, &["--prune"]);
    let files = cache_files();
    assert!(!files.contains(&file_of(TABLE)), "a pruned table's file stays: {files:?}");
    assert!(files.contains(&file_of("renamed")), "{files:?}");
    // `destroy` takes the rest.
    let (code, out) = shriekc(&dir, true, &["destroy", "--netns", ns.name.as_str(), "web.shr"]);
    assert_eq!(code, 0, "destroy: {out}");
    let files = cache_files();
    assert!(!files.contains(&file_of("renamed")), "a destroyed table's file stays: {files:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// After a commit, a map the batch edited keeps its cached elements,
/// edited as the batch edited the kernel's (`cache::TableCache::edit`):
/// a verdict flipped, a port moved, a rule removed or added, in a map of
/// thousands of elements (several messages), its ports apart so that no
/// two rules merge into a range and the map stays the same map. After
/// each apply, `plan` reads the map from the cache and must say `no
/// changes`, as a reading without the cache does.
#[test]
fn an_edited_map_is_cached_as_the_kernel_holds_it() {
    let Some(ns) = Netns::new("d2edit") else { return };
    let dir = std::env::temp_dir().join(format!("shriek-day2-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rules: Vec<Rule> = (0..4000)
        .map(|i| Rule {
            udp: i % 2 == 1,
            port: 10 + 3 * (i as u16 / 2),
            drop: i % 4 >= 2,
            barrier: false,
        })
        .collect();
    let mut next_port = 20_000u16;
    let mut rng = Rng(0x5eed_ed17);
    let plan = ["plan", "--netns", ns.name.as_str(), "web.shr"];
    for step in 0..12 {
        if step > 0 {
            let i = rng.below(rules.len());
            match step % 4 {
                1 => rules[i].drop = !rules[i].drop,
                2 => {
                    rules[i].port = next_port;
                    next_port += 3;
                }
                3 => {
                    rules.remove(i);
                }
                _ => {
                    rules.insert(
                        i,
                        Rule { udp: false, port: next_port, drop: true, barrier: false },
                    );
                    next_port += 3;
                }
            }
        }
        std::fs::write(dir.join("web.shr"), policy(&rules)).expect("write the policy");
        let args = ["apply", "--strategy", "auto", "--netns", ns.name.as_str(), "web.shr"];
        let (code, out) = shriekc(&dir, true, &args);
        assert_eq!(code, 0, "step {step}: apply: {out}");
        assert!(!out.contains("replaced"), "step {step}: the map was made again: {out}");
        let with = shriekc(&dir, true, &plan);
        assert_eq!((with.0, with.1.lines().next()), (0, Some("no changes")), "step {step}");
        assert_eq!(with, shriekc(&dir, false, &plan), "step {step}: the plans differ");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
