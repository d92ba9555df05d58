//! The fleet route with real Ansible (ansible-core): the `shriek_policy`
//! module and the example role applying into a network namespace of the
//! test's own, on localhost, with the `shriekc` cargo built. Also the
//! module's documentation (`ansible-doc`, and `fleet/sanity.py` in the
//! spirit of `ansible-test sanity`), the collection build, and the systemd
//! units (`systemd-analyze verify`).
//!
//! Under `CI=true` these tests must run (`.ci/run` installs ansible-core
//! and systemd when missing); elsewhere they skip with a message when
//! Ansible or root is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use shriek_testkit::{has_tool, root, run_dir, text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// The module's playbook: one `shriek_policy` task whose result lands in a
/// file.
const MODULE_PLAY: &str = "shriekc/tests/fleet/module.yml";

const WEB: &str = "\
# web.shr: the fleet test's policy.
table web {
  chain input hook input policy drop {
    ct state established,related accept
    iif lo accept
    tcp dport 22 accept
    tcp dport { 80, 443 } counter http accept
  }
}
";

/// A folder of this test's own, made afresh and removed when the test
/// ends (a role run leaves about 100 MB in it).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("shriek-fleet-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    Scratch(dir)
}

/// Ansible run against localhost over the local connection, with its own
/// home and temp folders under `dir` and nothing read from the user's
/// configuration.
struct Ansible {
    dir: PathBuf,
    inventory: PathBuf,
}

impl Ansible {
    /// `None` (after saying why) where ansible-core is not installed;
    /// under `CI=true` that fails the test.
    fn new(dir: &Path) -> Option<Ansible> {
        if !has_tool("ansible-playbook") {
            return None;
        }
        let inventory = dir.join("hosts.ini");
        // The managed host's Python is the controller's own: no discovery.
        std::fs::write(
            &inventory,
            "[firewalls]\nlocalhost ansible_connection=local \
             ansible_python_interpreter=\"{{ ansible_playbook_python }}\" ansible_become=false\n",
        )
        .expect("write the inventory");
        // An empty configuration: nothing of the user's own applies.
        std::fs::write(dir.join("none.cfg"), "").expect("write the configuration");
        Some(Ansible { dir: dir.to_path_buf(), inventory })
    }

    fn command(&self, program: &str) -> Command {
        let deploy = root().join("deploy/ansible");
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir)
            .env("ANSIBLE_CONFIG", self.dir.join("none.cfg"))
            .env("ANSIBLE_HOME", self.dir.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", self.dir.join("tmp"))
            .env("ANSIBLE_REMOTE_TEMP", self.dir.join("tmp"))
            .env("ANSIBLE_LIBRARY", deploy.join("library"))
            .env("ANSIBLE_ROLES_PATH", deploy.join("roles"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("SHRIEKC_RUN_DIR", run_dir());
        cmd
    }

    /// `ansible-playbook PLAY ARGS` with `vars` as extra variables.
    fn playbook(&self, play: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.command("ansible-playbook");
        cmd.arg("-i").arg(&self.inventory).arg(play).args(args);
        for (k, v) in vars {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.output().expect("ansible-playbook runs")
    }
}

/// What `ansible-playbook` printed, for assertion messages.
fn shown(out: &Output) -> String {
    format!("--- stdout ---\n{}\n--- stderr ---\n{}", text(&out.stdout), text(&out.stderr))
}

/// The recap line's count of `what` (`changed`, `failed`) for localhost.
fn recap(out: &Output, what: &str) -> u32 {
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("localhost") && l.contains("ok="))
        .unwrap_or_else(|| panic!("no recap line\n{}", shown(out)));
    let field = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{what}=")))
        .unwrap_or_else(|| panic!("no {what}= in {line}"));
    field.parse().expect("a count")
}

/// The module, run by `ansible-playbook` with `flags` against `policy`:
/// the task's result (as `register` holds it) and the run's output.
fn module(ansible: &Ansible, ns: &Netns, policy: &Path, flags: &[&str]) -> (Value, Output) {
    let out_file = ansible.dir.join("result.json");
    let _ = std::fs::remove_file(&out_file);
    let run_dir = run_dir();
    let vars = [
        ("policy", policy.to_str().expect("utf-8 path")),
        ("shriekc", BIN),
        ("netns", ns.name.as_str()),
        ("out", out_file.to_str().expect("utf-8 path")),
        ("run_dir", run_dir.to_str().expect("utf-8 path")),
    ];
    let out = ansible.playbook(&root().join(MODULE_PLAY), flags, &vars);
    assert_eq!(out.status.code(), Some(0), "the playbook runs\n{}", shown(&out));
    let result = std::fs::read_to_string(&out_file)
        .unwrap_or_else(|e| panic!("no result file ({e})\n{}", shown(&out)));
    (serde_json::from_str(&result).expect("the result is JSON"), out)
}

/// A namespace, a scratch folder and Ansible, for a test that applies;
/// `None` (after saying why) where one is missing.
fn kernel(tag: &str) -> Option<(Netns, Scratch, Ansible)> {
    let ns = Netns::new(tag)?;
    let dir = scratch(tag);
    let ansible = Ansible::new(&dir)?;
    has_tool("nft").then_some((ns, dir, ansible))
}

#[test]
fn module_plans_in_check_mode_applies_changes_and_fails_on_findings() {
    let Some((ns, dir, ansible)) = kernel("fleet") else { return };
    let policy = dir.join("web.shr");
    let at = |line: u32| format!("# {}:{line}", policy.display());
    std::fs::write(&policy, WEB).expect("write the policy");

    // Check mode: changed, the rules shown with their places, nothing in
    // the kernel.
    let (result, out) = module(&ansible, &ns, &policy, &["--check", "--diff"]);
    assert_eq!(result["changed"], true, "{result:#}");
    assert_eq!(result["failed"], false, "{result:#}");
    assert_eq!(result["summary"]["add"], 7, "{result:#}");
    assert_eq!(recap(&out, "changed"), 1, "{}", shown(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .contains(&format!("+ input: meta l4proto tcp th dport 22 counter accept  {}", at(6))),
        "diff mode shows each rule with its file:line\n{stdout}"
    );
    assert_eq!(ns.nft(&["list", "ruleset"]), "", "check mode applies nothing");

    // The first run applies.
    let (result, out) = module(&ansible, &ns, &policy, &[]);
    assert_eq!(result["changed"], true, "{result:#}\n{}", shown(&out));
    assert!(result["applied"].as_str().is_some_and(|a| a.starts_with("applied in netns")));
    let live = ns.nft(&["list", "ruleset"]);
    assert!(live.contains("table inet web") && live.contains("tcp dport 22 counter"), "{live}");

    // The second run changes nothing.
    let (result, out) = module(&ansible, &ns, &policy, &["--diff"]);
    assert_eq!(result["changed"], false, "{result:#}");
    assert_eq!(result["msg"], "no changes");
    assert_eq!(recap(&out, "changed"), 0, "{}", shown(&out));
    assert_eq!(ns.nft(&["list", "ruleset"]), live, "nothing was sent");

    // An edited policy is applied, and its diff shows the changed rule.
    std::fs::write(&policy, WEB.replace("{ 80, 443 }", "{ 80, 443, 8443 }")).expect("edit");
    let (result, out) = module(&ansible, &ns, &policy, &["--diff"]);
    assert_eq!(result["changed"], true, "{result:#}");
    assert_eq!(result["summary"]["change"], 1, "{result:#}");
    assert_eq!(recap(&out, "changed"), 1, "{}", shown(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "{{ 80, 443, 8443 }} counter counter name \"http\" accept  {}",
            at(7)
        )),
        "{stdout}"
    );
    let edited = ns.nft(&["list", "ruleset"]);
    assert!(edited.contains("8443"), "{edited}");

    // A policy with an error-level finding fails the task, in check mode
    // as in a real run, and the kernel keeps the rules it had.
    std::fs::write(
        &policy,
        WEB.replace("tcp dport 22 accept", "tcp dport 22 accept\n    tcp dport 22 drop"),
    )
    .expect("edit");
    for flags in [&["--check"][..], &[]] {
        let (result, out) = module(&ansible, &ns, &policy, flags);
        assert_eq!(result["failed"], true, "{result:#}");
        let msg = result["msg"].as_str().expect("a message");
        assert!(
            msg.starts_with("refusing to apply: the policy has 1 error-level finding(s)")
                && msg.contains(&format!("{}:7", policy.display()))
                && msg.contains("shadowed-rule"),
            "{msg}"
        );
        assert_eq!(recap(&out, "changed"), 0, "{}", shown(&out));
    }
    assert_eq!(ns.nft(&["list", "ruleset"]), edited, "the failed task applied nothing");
}

#[test]
fn module_fails_cleanly_when_the_kernel_refuses_the_batch() {
    let Some((ns, dir, ansible)) = kernel("fleetrefuse") else { return };
    let policy = dir.join("web.shr");
    std::fs::write(&policy, WEB).expect("write the policy");
    let (result, out) = module(&ansible, &ns, &policy, &[]);
    assert_eq!(result["changed"], true, "{result:#}\n{}", shown(&out));
    let live = ns.nft(&["list", "ruleset"]);

    // Jumps nested 20 deep: the analysis reports `chain-too-deep`, and with
    // `force` the module applies anyway, and the kernel refuses the batch
    // when it commits it.
    let mut deep = String::from("table web {\n  chain input hook input {\n    jump c1\n  }\n");
    for i in 1..20 {
        deep.push_str(&format!("  chain c{i} {{\n    jump c{}\n  }}\n", i + 1));
    }
    deep.push_str("  chain c20 {\n    accept\n  }\n}\n");
    std::fs::write(&policy, deep).expect("edit");
    let (result, out) = module(&ansible, &ns, &policy, &["-e", "force=true"]);
    assert_eq!(result["failed"], true, "{result:#}");
    assert_eq!(result["changed"], false, "{result:#}");
    let names: Vec<&Value> =
        result["findings"].as_array().expect("findings").iter().map(|f| &f["name"]).collect();
    assert_eq!(names, [&Value::from("chain-too-deep")], "{result:#}");
    let msg = result["msg"].as_str().expect("a message");
    assert!(
        msg.starts_with("shriekc apply failed: ")
            && msg.contains("limit of 16")
            && msg.contains(&policy.display().to_string()),
        "the task fails with shriekc's message, naming the policy: {msg}"
    );
    assert_eq!(recap(&out, "changed"), 0, "{}", shown(&out));
    assert_eq!(recap(&out, "ignored"), 1, "the task failed (the play ignores it)\n{}", shown(&out));
    assert_eq!(ns.nft(&["list", "ruleset"]), live, "the refused batch applied nothing");
}

#[test]
fn role_installs_checks_applies_with_a_confirmed_window_enables_the_unit_and_reports_stats() {
    let Some((ns, dir, ansible)) = kernel("fleetrole") else { return };
    let bin = dir.join("bin/shriekc");
    let etc = dir.join("etc");
    // The boot unit goes under a root of the test's own, never the host's.
    let unit_root = dir.join("root");
    let units = unit_root.join("etc/systemd/system");
    std::fs::create_dir_all(&units).expect("the unit folder");
    let policy_src = format!("{}/", root().join("deploy/ansible/policy").display());
    let vars = [
        ("shriek_binary_src", BIN),
        ("shriek_bin", bin.to_str().expect("utf-8 path")),
        ("shriek_policy_src", policy_src.as_str()),
        ("shriek_policy_dir", etc.to_str().expect("utf-8 path")),
        ("shriek_netns", ns.name.as_str()),
        ("shriek_confirm", "30"),
        ("shriek_unit_root", unit_root.to_str().expect("utf-8 path")),
    ];
    let site = root().join("deploy/ansible/site.yml");

    let out = ansible.playbook(&site, &[], &vars);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(recap(&out, "failed"), 0, "{}", shown(&out));
    let live = ns.nft(&["list", "ruleset"]);
    assert!(live.contains("table inet host") && live.contains("counter web_in"), "{live}");
    // The window the role opened was confirmed by its next task, not left
    // to roll back.
    let last =
        std::fs::read_to_string(run_dir().join(format!("confirm-netns-{}/last.json", ns.name)))
            .expect("the confirm window left its outcome");
    let last: Value = serde_json::from_str(&last).expect("last.json is JSON");
    assert_eq!(last["report"]["event"], "confirmed", "{last:#}");
    // Every rule's counts and the named counters, as the fact the post
    // task shows.
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\"shriek_stats\": {")
            && stdout.contains("\"name\": \"web_in\"")
            && stdout.contains(&format!("\"file\": \"{}/main.shr\"", etc.display())),
        "{stdout}"
    );

    // The boot unit, with the role's paths, enabled for boot (and the path
    // unit not installed).
    let unit = std::fs::read_to_string(units.join("shriek.service")).expect("the unit");
    assert!(
        unit.contains(&format!(
            "\nExecStart={} apply --prune --force {}/main.shr\n",
            bin.display(),
            etc.display()
        )) && unit.contains(&format!("\nConditionPathExists={}/main.shr\n", etc.display())),
        "{unit}"
    );
    let wants = units.join("sysinit.target.wants/shriek.service");
    assert!(wants.is_symlink(), "systemctl enable linked {}", wants.display());
    assert!(!units.join("shriek-reload.path").exists());

    // Again: nothing to install, copy, apply or enable.
    let out = ansible.playbook(&site, &[], &vars);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(recap(&out, "changed"), 0, "a second run changes nothing\n{}", shown(&out));
    assert_eq!(ns.nft(&["list", "ruleset"]), live);
}

#[test]
fn module_documentation_renders_and_matches_its_argument_spec() {
    let dir = scratch("doc");
    let Some(ansible) = Ansible::new(&dir) else { return };
    let library = root().join("deploy/ansible/library");
    let out = ansible
        .command("ansible-doc")
        .arg("-M")
        .arg(&library)
        .arg("shriek_policy")
        .output()
        .expect("ansible-doc runs");
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(text(&out.stdout).contains("RETURN VALUES"), "{}", shown(&out));
    assert!(!text(&out.stderr).contains("WARNING"), "{}", shown(&out));
    // The same documentation as Ansible's own parser reads it.
    let out = ansible
        .command("ansible-doc")
        .arg("--json")
        .arg("-M")
        .arg(&library)
        .arg("shriek_policy")
        .output()
        .expect("ansible-doc runs");
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("ansible-doc --json prints JSON");
    let doc = &doc["shriek_policy"];
    let mut options: Vec<&str> =
        doc["doc"]["options"].as_object().expect("options").keys().map(String::as_str).collect();
    options.sort();
    assert_eq!(
        options,
        ["confirm", "confirm_pending", "force", "netns", "prune", "shriekc", "src", "strategy"]
    );
    assert!(doc["return"]["plan"]["description"].is_array(), "{doc:#}");
    assert!(doc["examples"].as_str().is_some_and(|e| e.contains("shriek_policy:")), "{doc:#}");

    let module = library.join("shriek_policy.py");
    let sanity = root().join("shriekc/tests/fleet/sanity.py");
    let out = Command::new(shriek_testkit::python())
        .arg(&sanity)
        .arg(&module)
        .output()
        .expect("python runs");
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));

    // The collection: built from deploy/ansible, installed, documented
    // under its full name.
    let out = ansible
        .command("ansible-galaxy")
        .args(["collection", "build", "--output-path"])
        .arg(&*dir)
        .arg(root().join("deploy/ansible"))
        .output()
        .expect("ansible-galaxy runs");
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let collections = dir.join("collections");
    let out = ansible
        .command("ansible-galaxy")
        .args(["collection", "install", "--offline", "-p"])
        .arg(&collections)
        .arg(dir.join("shriek-firewall-0.1.0.tar.gz"))
        .output()
        .expect("ansible-galaxy runs");
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = ansible
        .command("ansible-doc")
        .env("ANSIBLE_COLLECTIONS_PATH", &collections)
        .env_remove("ANSIBLE_LIBRARY")
        .arg("shriek.firewall.shriek_policy")
        .output()
        .expect("ansible-doc runs");
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(text(&out.stdout).contains("shriek.firewall.shriek_policy"), "{}", shown(&out));
    // The role's unit is a link to deploy/systemd, outside the collection:
    // the collection carries the file itself.
    let unit =
        collections.join("ansible_collections/shriek/firewall/roles/shriek/files/shriek.service");
    assert!(!unit.is_symlink(), "{}", unit.display());
    assert_eq!(
        std::fs::read_to_string(&unit).expect("the collection carries the unit"),
        std::fs::read_to_string(root().join("deploy/systemd/shriek.service")).expect("the unit")
    );
}

#[test]
fn systemd_units_verify() {
    if !has_tool("systemd-analyze") {
        return;
    }
    // The units name /usr/local/bin/shriekc, which `verify` wants to find:
    // point copies of them at the binary cargo built.
    let dir = scratch("systemd");
    let mut units = Vec::new();
    for entry in std::fs::read_dir(root().join("deploy/systemd")).expect("deploy/systemd") {
        let path = entry.expect("a unit").path();
        let body = std::fs::read_to_string(&path).expect("read a unit");
        let copy = dir.join(path.file_name().expect("a file name"));
        std::fs::write(&copy, body.replace("/usr/local/bin/shriekc", BIN)).expect("write a unit");
        units.push(copy);
    }
    units.sort();
    assert_eq!(units.len(), 3, "{units:?}");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .expect("systemd-analyze runs");
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    // Unknown keys are only warnings: none may name our units.
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("shriek"), "{stderr}");
}
