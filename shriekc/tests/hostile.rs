//! Hostile input through the binary, as a user (or an attacker) gives it:
//! every kind ends in exit 2 with the code that names the problem, within a
//! generous hang guard and well under a gigabyte of memory. Also the inputs
//! people type: standard input, a byte-order mark.
//!
//! The peak memory of the children is read with `getrusage(RUSAGE_CHILDREN)`;
//! every child of this test binary is a `shriekc` run of this file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use shriek_testkit::text;

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// Far longer than any of these runs takes; only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// The most memory one run may use.
const MAX_RSS_KIB: i64 = 1 << 20;

/// A folder of this test process's own.
fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shriek-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn file(name: &str, bytes: &[u8]) -> String {
    let path = dir().join(name);
    std::fs::write(&path, bytes).expect("write input");
    path.to_string_lossy().into_owned()
}

/// Runs `shriekc ARGS` with `stdin` fed from `input`, killing it at the hang guard.
fn run_with(args: &[&str], stdin: Stdio, input: Option<&[u8]>) -> Output {
    run_in(shriek_testkit::command(BIN), args, stdin, input)
}

/// [`run_with`] of a command set up by the caller (its environment).
fn run_in(
    mut cmd: std::process::Command,
    args: &[&str],
    stdin: Stdio,
    input: Option<&[u8]>,
) -> Output {
    let mut child = cmd
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shriekc runs");
    // Output is drained while the child runs, so a full pipe cannot stall it.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    if let Some(input) = input {
        // A child that stops reading early closes the pipe; that is fine.
        let _ = child.stdin.take().expect("piped stdin").write_all(input);
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > HANG_GUARD {
            let _ = child.kill();
            panic!("shriekc {args:?} still ran after {HANG_GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    let peak = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage")
        .max_rss();
    assert!(peak < MAX_RSS_KIB, "shriekc {args:?} peaked at {peak} KiB");
    out
}

fn run(args: &[&str]) -> Output {
    run_with(args, Stdio::null(), None)
}

/// Asserts exit 2 and that `code` is what standard error reports.
fn refused(what: &str, out: &Output, code: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: exit code; stderr:\n{stderr}");
    assert!(stderr.contains(code), "{what}: expected {code} in:\n{}", head(&stderr));
}

fn head(s: &str) -> String {
    s.chars().take(3000).collect()
}

#[test]
fn each_hostile_input_exits_2_quickly_and_small() {
    let deep = file("deep.shr", format!("define x = {}", "{".repeat(1_000_000)).as_bytes());
    refused("deep nesting", &run(&["check", &deep]), "E0111(nesting-too-deep)");

    let long = format!("table t {{\n  chain c {{\n    accept {}\n  }}\n}}\n", "a".repeat(1 << 20));
    let long = file("long.shr", long.as_bytes());
    let out = run(&["check", &long]);
    refused("a 1 MB line", &out, "E0102(unknown-keyword)");
    // The line is shown as a window around the label, not whole.
    assert!(out.stderr.len() < 10_000, "{} bytes of output", out.stderr.len());

    file("loop_b.shr", b"include \"loop_a.shr\"\n");
    let looped = file("loop_a.shr", b"include \"loop_b.shr\"\n");
    refused("an include loop", &run(&["check", &looped]), "E0205(include-cycle)");

    // A loop of symbolic links, as the entry file and as an include: the
    // message says so once, in the messages' own words.
    let link = dir().join("link_a.shr");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("link_a.shr", &link).expect("symlink");
    let link = link.to_string_lossy().into_owned();
    let out = run(&["check", &link]);
    refused("a symlink loop", &out, "E0204(include-not-found)");
    assert!(
        text(&out.stderr).contains(&format!("× `{link}` is a loop of symbolic links")),
        "{}",
        text(&out.stderr)
    );
    let via = file("via_link.shr", b"include \"link_a.shr\"\n");
    let out = run(&["check", &via]);
    refused("a symlink loop included", &out, "E0204(include-not-found)");
    assert!(text(&out.stderr).contains("is a loop of symbolic links"), "{}", text(&out.stderr));

    refused("/dev/zero", &run(&["check", "/dev/zero"]), "E0237(not-a-file)");
    let via = file("zero.shr", b"include \"/dev/zero\"\n");
    let out = run(&["check", &via]);
    refused("/dev/zero included", &out, "E0237(not-a-file)");
    assert!(text(&out.stderr).contains("zero.shr:1:9]"), "points at the include line");

    let bad = file("latin1.shr", b"table t {\n  chain c {\n    log prefix \"caf\xe9\"\n  }\n}\n");
    let out = run(&["check", &bad]);
    refused("invalid UTF-8", &out, "E0238(not-utf8)");
    assert!(text(&out.stderr).contains("byte 0xe9 at line 3, column 20"), "{}", text(&out.stderr));

    // Each unclosed `{` once doubled the parser's ways to read the rest
    // (found by the fuzzer: 2^n tries; forty of them would outlast the
    // hang guard).
    let braces =
        format!("table t {{\n  chain c hook \"x{} policy drop {{\n  }}\n}}\n", "{".repeat(40));
    let braces = file("braces.shr", braces.as_bytes());
    refused("forty unclosed braces", &run(&["check", &braces]), "E0105(unterminated-string)");

    let nul = file("nul.shr", b"table t {\n  chain c {\n    accept\0\n  }\n}\n");
    refused("a NUL byte", &run(&["check", &nul]), "E0110(stray-character)");

    let mut many = String::from("table t {\n  chain c {\n");
    for _ in 0..50_000 {
        many += "    tcp dport 70000 acept\n";
    }
    many += "  }\n}\n";
    let many = file("many.shr", many.as_bytes());
    let out = run(&["check", &many]);
    refused("50,000 bad lines", &out, "E0102(unknown-keyword)");
    assert!(text(&out.stderr).contains("and 49900 more E0102(unknown-keyword) of the same kind"));
    let out = run(&["check", "--format", "json", &many]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout).matches("\"E0102\"").count(), 50_000);

    let big = file("big.shr", &vec![b'#'; (16 << 20) + 1]);
    refused("a file over 16 MiB", &run(&["check", &big]), "E0236(file-too-large)");
    let out = run_with(
        &["check", "-"],
        Stdio::from(std::fs::File::open("/dev/zero").expect("/dev/zero")),
        None,
    );
    refused("/dev/zero on standard input", &out, "E0236(file-too-large)");
}

#[test]
fn paths_that_are_not_files_are_refused_by_name() {
    refused("a directory", &run(&["check", &dir().to_string_lossy()]), "is a directory");
    let fifo = dir().join("fifo.shr");
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR)
        .expect("mkfifo");
    let out = run(&["check", &fifo.to_string_lossy()]);
    refused("a FIFO", &out, "E0237(not-a-file)");
    assert!(text(&out.stderr).contains("fifo.shr` is a FIFO, not a policy file"));
    let via =
        file("fifo_include.shr", format!("include {:?}\n", fifo.to_string_lossy()).as_bytes());
    refused("a FIFO included", &run(&["check", &via]), "is a FIFO");
    refused("fmt of a directory", &run(&["fmt", "--check", &dir().to_string_lossy()]), "E0237");
}

/// `import` reads pipes (`<(iptables-save)`), but no path can make it hang
/// or read a gigabyte: a FIFO nobody writes to is empty, a device or a
/// folder is refused by name, and a NUL byte ends the read.
#[test]
fn import_reads_pipes_and_refuses_what_is_no_ruleset() {
    let fifo = dir().join("import_fifo.rules");
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR)
        .expect("mkfifo");
    let out = run(&["import", &fifo.to_string_lossy()]);
    refused("a FIFO nobody writes to", &out, "import_fifo.rules` is empty");
    let dir_name = dir().to_string_lossy().into_owned();
    refused(
        "a folder",
        &run(&["import", &dir_name]),
        &format!("`{dir_name}` is a directory, not a ruleset"),
    );
    refused(
        "a device",
        &run(&["import", "/dev/zero"]),
        "`/dev/zero` is a character device, not a ruleset",
    );
    let out = run_with(
        &["import", "-"],
        Stdio::from(std::fs::File::open("/dev/zero").expect("/dev/zero")),
        None,
    );
    refused("/dev/zero on standard input", &out, "`<stdin>` holds a NUL byte at offset 0");

    // The way people hand `import` a command's output: a pipe, as a path.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{BIN:?} import <(printf '*filter\\n:INPUT DROP [0:0]\\n-A INPUT -p tcp --dport 22 -j ACCEPT\\nCOMMIT\\n')"
        ))
        .output()
        .expect("bash runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("tcp dport 22 accept"), "{}", text(&out.stdout));
}

#[test]
fn check_dash_reads_standard_input() {
    let policy = b"table t {\n  chain c hook input {\n    tcp dport 22 accept\n    tcp dport 22 accept\n  }\n}\n";
    let out = run_with(&["check", "-"], Stdio::piped(), Some(policy));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("[<stdin>:4:5]"), "{stderr}");
    assert!(stderr.contains("E0302(redundant-rule)"), "{stderr}");
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let policy = b"\xEF\xBB\xBFtable t {\n  chain c hook input {\n    accept\n  }\n}\n";
    let bom = file("bom.shr", policy);
    let out = run(&["check", &bom]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // fmt keeps the mark: the layout is its business, the encoding is not.
    let messy =
        file("bom_messy.shr", b"\xEF\xBB\xBFtable t {\n chain c hook input {\n accept\n }\n}\n");
    assert_eq!(run(&["fmt", &messy]).status.code(), Some(0));
    let formatted = std::fs::read(&messy).expect("formatted file");
    assert!(formatted.starts_with(b"\xEF\xBB\xBFtable t {\n  chain c hook input {\n    accept\n"));
    assert_eq!(run(&["fmt", "--check", &messy]).status.code(), Some(0));
}

#[test]
fn fmt_diff_of_an_absolute_path_has_git_headers() {
    let messy = file("abs_messy.shr", b"table t {\n chain c {\n accept\n }\n}\n");
    assert!(Path::new(&messy).is_absolute());
    let out = run(&["fmt", "--diff", &messy]);
    let stdout = text(&out.stdout);
    let path = messy.trim_start_matches('/');
    assert!(stdout.starts_with(&format!("--- a/{path}\n+++ b/{path}\n")), "{stdout}");
}

/// Rulesets to import that are cut short or garbled: a located error and
/// exit 2, never a policy that silently lost or changed rules.
#[test]
fn cut_or_garbled_rulesets_to_import_are_refused() {
    // Cut inside the last rule: `--dport 8` of `--dport 8080 -j ACCEPT`
    // would read as a rule that only counts.
    let cut = b"*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp --dport 8";
    let out = run(&["import", &file("cut.rules", cut)]);
    refused("iptables-save cut short", &out, "cut.rules:1: the `*filter` table is never closed");
    let out = run_with(&["import", "-"], Stdio::piped(), Some(cut));
    refused("iptables-save cut short on standard input", &out, "never closed with `COMMIT`");
    let two = b"*filter\n:INPUT DROP [0:0]\n*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n";
    refused("a table left open", &run(&["import", &file("open.rules", two)]), "open.rules:1:");

    // nft -j lists each table and chain before what it holds.
    let orphan = br#"{"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}}, {"rule": {"family": "inet", "table": "t", "chain": "gone", "expr": [{"accept": null}]}}]}"#;
    let out = run(&["import", &file("orphan.json", orphan)]);
    refused(
        "a rule of no chain",
        &out,
        "object 2 of the `nftables` list, a rule, belongs to chain `gone` of table `inet t`",
    );
    let no_table = br#"{"nftables": [{"chain": {"family": "inet", "table": "t", "name": "c"}}]}"#;
    refused(
        "a chain of no table",
        &run(&["import", &file("notable.json", no_table)]),
        "table `inet t`",
    );
    let truncated = br#"{"nftables": [{"table": {"family": "inet", "name": "t""#;
    refused("JSON cut short", &run(&["import", &file("cut.json", truncated)]), "cut.json:1:");
    refused("not UTF-8", &run(&["import", &file("bin.rules", b"\xff\xfe*filter\n")]), "not UTF-8");
}

/// Names and log prefixes longer than the kernel keeps: `check` refuses
/// them where they are written, rather than `apply` failing in the kernel
/// (or in netlink encoding) after the linter passed them.
#[test]
fn names_the_kernel_cannot_keep_are_refused_by_check() {
    let long = |what: &str| {
        let (table, chain, prefix) = match what {
            "table" => ("t".repeat(100_000), "c".to_string(), "x".to_string()),
            "chain" => ("t".to_string(), "c".repeat(256), "x".to_string()),
            _ => ("t".to_string(), "c".to_string(), "x".repeat(1 << 20)),
        };
        let policy = format!(
            "table {table} {{\n  chain {chain} hook input {{\n    log prefix \"{prefix}\" accept\n  }}\n}}\n"
        );
        file(&format!("long_{what}.shr"), policy.as_bytes())
    };
    let out = run(&["check", &long("table")]);
    refused("a table name of 100,000 bytes", &out, "E0253(name-too-long)");
    assert!(text(&out.stderr).contains("long_table.shr:1:7]"), "{}", head(&text(&out.stderr)));
    refused(
        "a chain name of 256 bytes",
        &run(&["check", &long("chain")]),
        "chain name of 256 bytes",
    );
    let out = run(&["compile", &long("prefix")]);
    refused("a log prefix of 1 MiB", &out, "log prefix of 1048576 bytes is too long");
    assert!(out.stdout.is_empty(), "nothing compiled");
    // The longest the kernel keeps still checks.
    let fits = format!(
        "table {} {{\n  chain {} hook input {{\n    log prefix \"{}\" accept\n  }}\n}}\n",
        "t".repeat(255),
        "c".repeat(255),
        "x".repeat(127)
    );
    let out = run(&["check", &file("fits.shr", fits.as_bytes())]);
    assert_eq!(out.status.code(), Some(0), "{}", head(&text(&out.stderr)));
}

/// Standard input can be read once: `diff - -` is refused, not reported as
/// every table removed.
#[test]
fn diff_of_standard_input_against_itself_is_refused() {
    let policy = b"table t {\n  chain c hook input {\n    accept\n  }\n}\n";
    let out = run_with(&["diff", "-", "-"], Stdio::piped(), Some(policy));
    refused("diff - -", &out, "standard input can be read only once");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

/// A path of 2000 nested jumps took `check` 20 seconds and 3 GiB (each
/// chain's decided packets held those of every chain below it); the kernel
/// refuses a path past 15, and `check` now says so at once.
#[test]
fn a_path_of_two_thousand_jumps_is_refused_quickly_and_small() {
    let mut policy = String::from("table t {\n  chain input hook input {\n    jump c0\n  }\n");
    for i in 0..2000 {
        policy +=
            &format!("  chain c{i} {{\n    tcp dport {i} accept\n    jump c{}\n  }}\n", i + 1);
    }
    policy += "  chain c2000 {\n    drop\n  }\n}\n";
    let out = run(&["check", &file("jumps_2000.shr", policy.as_bytes())]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", head(&stderr));
    assert!(stderr.contains("E0307(chain-too-deep)"), "{}", head(&stderr));
}

/// 3,000 rules that each negate three matches, one of them a set of 30
/// ports, overlap each other in so many ways that the exact analysis took 10
/// s of CPU (and more, faster than the rule count grows). The policy's work
/// budget stops it: the rules checked keep their exact findings, the rest
/// get `analysis-budget`, saying the budget ran out, and the findings are
/// the same on one thread as on two.
#[test]
fn rules_with_many_negations_stop_at_the_work_budget() {
    let path = file("negations.shr", shriek_testkit::budget::negations(3000).as_bytes());
    let out = run(&["check", &path]);
    let stderr = text(&out.stderr);
    // Some rules checked before the budget ran out are shadowed (an error).
    assert_eq!(out.status.code(), Some(1), "{}", head(&stderr));
    assert!(stderr.contains("E0301(shadowed-rule)"), "{}", head(&stderr));
    // The first rule past the budget, and the count of the others, as the
    // user reads them.
    let start = stderr.find("E0306(analysis-budget)").expect("an analysis-budget finding");
    let first = &stderr[start..];
    // It ends where the next finding or the "and N more" lines begin.
    let end = [first[1..].find("\nE030").map(|i| i + 1), first.find("\nand ")];
    let first = &first[..end.into_iter().flatten().min().unwrap_or(first.len())];
    let more: Vec<&str> = stderr.lines().filter(|l| l.starts_with("and ")).collect();
    let dir = dir().to_string_lossy().into_owned();
    shriek_testkit::snapshot!(
        "hostile",
        "negations_past_the_work_budget",
        format!("{}\n{}\n", first.trim_end(), more.join("\n")).replace(&dir, "DIR")
    );

    let json = |threads: &str| {
        let mut cmd = shriek_testkit::command(BIN);
        cmd.env("RAYON_NUM_THREADS", threads);
        let out = run_in(cmd, &["check", "--format", "json", &path], Stdio::null(), None);
        assert_eq!(out.status.code(), Some(1), "{}", head(&text(&out.stderr)));
        out.stdout
    };
    assert!(json("1") == json("2"), "the findings depend on the number of threads");
}

/// 20,000 chains in a row, each jumping to the next: unreachable from any
/// base chain (so the kernel's depth limit says nothing), with a mark set at
/// the end, or reached and closed into one loop. Both overflowed the stack
/// of `check` (the analysis computed what a chain decides by recursing down
/// the row), and the row's mark took one pass per chain.
#[test]
fn twenty_thousand_chains_in_a_row_or_a_loop_are_checked() {
    let row = |closed: bool| {
        let first = if closed { "jump c0" } else { "tcp dport 22 accept" };
        let mut policy = format!("table t {{\n  chain input hook input {{\n    {first}\n  }}\n");
        for i in 0..20_000 {
            let next = if closed { (i + 1) % 20_000 } else { i + 1 };
            policy += &format!(
                "  chain c{i} {{\n    tcp dport {} accept\n    jump c{next}\n  }}\n",
                i % 60_000
            );
        }
        if !closed {
            policy += "  chain c20000 {\n    mark set 1\n  }\n";
        }
        policy + "}\n"
    };
    let out = run(&["check", &file("row_20000.shr", row(false).as_bytes())]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", head(&stderr));
    assert!(stderr.contains("E0304(unreachable-chain)"), "{}", head(&stderr));

    let out = run(&["check", &file("loop_20000.shr", row(true).as_bytes())]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", head(&stderr));
    assert!(stderr.contains("E0305(jump-cycle)"), "{}", head(&stderr));
}
