#!/usr/bin/python
# -*- coding: utf-8 -*-

# Shriek: the shriek_policy Ansible module. It drives the `shriekc` binary
# on the managed host and holds no firewall logic of its own: `check`
# decides findings, `plan` decides whether anything would change, `apply`
# changes the kernel, and `apply --confirm-pending` keeps a confirm window.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: shriek_policy
short_description: Apply a Shriek firewall policy with nftables, only when it changes
version_added: "0.1.0"
description:
  - Checks a Shriek policy (C(.shr) files) on the managed host, plans it against the live
    nf_tables ruleset with C(shriekc plan --format json --detailed-exitcode), and applies it
    with C(shriekc apply) only when the plan has changes. A second run with the same policy
    reports C(changed=false).
  - In check mode only C(shriekc check) and C(shriekc plan) run, both of which only read
    the kernel, so nothing changes.
  - In diff mode the plan is returned as the task's diff, each rule as nftables text with the
    C(file:line) it comes from.
  - Error-level findings of the analysis (a shadowed or unmatchable rule, a jump cycle), an
    invalid policy, a policy that would lock out SSH, and errors of the kernel make the task
    fail with C(shriekc)'s message.
  - With O(confirm), the policy goes in with a rollback window and the task returns at once
    with RV(pending=true); a later task with O(confirm_pending=true) keeps it. Run that task
    over a new connection (after a C(reset_connection) meta task) to prove the new policy still lets the
    controller in; if it cannot connect, the window runs out and the old tables come back.
author:
  - Shriek maintainers
requirements:
  - C(shriekc) on the managed host, run as root (nf_tables needs CAP_NET_ADMIN to read as much as to change)
attributes:
  check_mode:
    support: full
    description: Runs C(shriekc check) and C(shriekc plan), which never change the kernel.
  diff_mode:
    support: full
    description: Returns the plan, rule by rule, as C(diff.prepared).
  platform:
    platforms: linux
options:
  src:
    description:
      - The policy's entry file on the managed host, as an absolute path. Files it includes are
        found relative to it.
      - The path names the policy in the tables it makes, so apply a policy from the same path
        every time.
      - Required unless O(confirm_pending=true).
    type: path
  shriekc:
    description:
      - The C(shriekc) binary on the managed host, as a path or a name looked up in C(PATH)
        (and C(/usr/local/bin), C(/usr/sbin)).
    type: str
    default: shriekc
  netns:
    description:
      - The network namespace to plan and apply in (C(shriekc --netns)). It must exist.
      - Omit it for the host's own namespace.
    type: str
  strategy:
    description:
      - How to lower the policy to nftables (C(shriekc --strategy)).
      - Omit it to use the strategy the live tables record, else C(auto).
    type: str
    choices: [auto, sequential, dispatch]
  prune:
    description:
      - Also remove the tables this policy made earlier and no longer names (C(apply --prune)).
      - Without it such tables are left alone and listed in RV(plan.orphans).
    type: bool
    default: false
  confirm:
    description:
      - Apply with a rollback window of this many seconds (C(apply --confirm SECONDS)), and
        return as soon as the new policy is in, with RV(pending=true).
      - Unless a later task with O(confirm_pending=true) (or C(shriekc apply --confirm-pending)
        on the host) confirms it in time, a guard process on the host puts the previous tables
        back, even if the connection to the host is lost.
      - With O(confirm), a policy that would lock out SSH is applied, since the window is the
        way back.
    type: int
  confirm_pending:
    description:
      - Instead of applying, confirm the window that a task with O(confirm) opened in O(netns)
        (or on the host), so that the new policy stays.
      - Fails when nothing is pending, for instance when the window already ran out; run it only
        when the applying task returned RV(pending=true).
    type: bool
    default: false
  force:
    description:
      - Apply despite error-level findings, or a policy that would lock out SSH (C(apply --force)).
      - Findings are still returned in RV(findings) and shown as warnings.
    type: bool
    default: false
notes:
  - The module runs C(shriekc) as the connecting user; use C(become) unless that is root.
  - O(strategy) and O(prune) are given to both C(plan) and C(apply), so check mode plans
    what the real run would do.
  - The README's section "Many hosts" shows the example role and the systemd units.
"""

EXAMPLES = r"""
- name: Apply the host's policy (check mode plans it, diff mode shows the rules)
  shriek_policy:
    src: /etc/shriek/main.shr
    prune: true

- name: Apply with a way back, then keep it over a fresh connection
  block:
    - name: Apply with a 60 second rollback window
      shriek_policy:
        src: /etc/shriek/main.shr
        shriekc: /usr/local/bin/shriekc
        prune: true
        confirm: 60
      register: shriek

    - name: Reconnect, so that the next task proves new connections still get in
      ansible.builtin.meta: reset_connection

    - name: Keep the new policy
      shriek_policy:
        confirm_pending: true
      when: shriek.pending

- name: Apply inside a network namespace with the hashed dispatch strategy
  shriek_policy:
    src: /srv/fw/router.shr
    netns: edge
    strategy: dispatch
"""

RETURN = r"""
changed:
  description: Whether the plan had changes (in check mode), or the apply made them.
  returned: always
  type: bool
plan:
  description:
    - What C(shriekc plan --format json) printed before applying, the live tables against the
      policy. See C(docs/json.md), "shriekc plan --format json", for every field.
  returned: when the policy was planned
  type: dict
  sample:
    format_version: 1
    changes:
      - action: add
        kind: rule
        table: web
        chain: input
        after:
          rule: meta l4proto tcp th dport 22 accept
          place: /etc/shriek/main.shr:6
          identity: 4db6d8ef23adf672
    replaced: []
    orphans: []
    relocated: 0
    strategy:
      used: auto
      recorded: null
    notes: []
    summary:
      add: 1
      change: 0
      remove: 0
summary:
  description: The plan's counts of what is added, changed and removed (C(plan.summary)).
  returned: when the policy was planned
  type: dict
  sample:
    add: 1
    change: 0
    remove: 0
findings:
  description:
    - The analysis' findings, as C(shriekc check --format json) lists them (C(code), C(name),
      C(severity), C(message), C(file), C(line), C(help) and more); warnings are also shown as
      Ansible warnings.
  returned: when O(src) was given
  type: list
  elements: dict
  sample:
    - code: E0302
      name: redundant-rule
      severity: warning
      message: "rule is redundant: covered by an earlier rule that already accepts the same packets"
      file: /etc/shriek/main.shr
      line: 7
applied:
  description: What C(shriekc apply) said it did, its first line of output.
  returned: when the policy was applied
  type: str
  sample: "applied: 1 added, 0 changed, 0 removed in 12.4 ms (transaction 3.1 ms)"
pending:
  description:
    - Whether a confirm window is open and waits for a task with O(confirm_pending=true).
  returned: always
  type: bool
confirm_log:
  description:
    - The file on the managed host where the applying C(shriekc) writes how its window ended
      (confirmed, or rolled back and why).
  returned: when RV(pending=true)
  type: str
  sample: /tmp/shriek-confirm-k2j4x1.log
diff:
  description: In diff mode, the plan as C(shriekc plan) prints it, one rule a line with its C(file:line).
  returned: in diff mode, when the policy was planned
  type: dict
  sample:
    prepared: |
      table inet web
        + input: meta l4proto tcp th dport 22 accept  # /etc/shriek/main.shr:6
      Plan: 1 to add, 0 to change, 0 to remove
msg:
  description: What happened, in one sentence; on failure, C(shriekc)'s own message.
  returned: always
  type: str
"""

import json
import os
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

# The argument spec lives beside DOCUMENTATION so that a sanity check can
# compare the two without running the module.
ARGUMENT_SPEC = dict(
    src=dict(type="path"),
    shriekc=dict(type="str", default="shriekc"),
    netns=dict(type="str"),
    strategy=dict(type="str", choices=["auto", "sequential", "dispatch"]),
    prune=dict(type="bool", default=False),
    confirm=dict(type="int"),
    confirm_pending=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
)

# `shriekc` exit codes (see its README): 0 clean, 1 findings or a refusal,
# 2 invalid input; under `plan --detailed-exitcode`, 2 means changes and 1
# any error.
PLAN_NO_CHANGES = 0
PLAN_CHANGES = 2

# How long an `apply --confirm` may take to put the policy in before the
# module gives up on it (and so rolls it back).
APPLY_TIMEOUT_SECONDS = 120


def binary(module):
    name = module.params["shriekc"]
    if "/" in name:
        if not os.access(name, os.X_OK):
            module.fail_json(msg="shriekc binary %s is not an executable file" % name, pending=False)
        return name
    return module.get_bin_path(name, required=True, opt_dirs=["/usr/local/bin", "/usr/sbin"])


def where(module):
    """The `--netns` arguments every verb takes."""
    netns = module.params["netns"]
    return ["--netns", netns] if netns else []


def shaping(module):
    """The flags that shape what `plan` and `apply` would send."""
    args = []
    if module.params["strategy"]:
        args += ["--strategy", module.params["strategy"]]
    if module.params["prune"]:
        args.append("--prune")
    return args


def said(out, err):
    """shriekc's message: its standard error, else its standard output."""
    text = (err or "").strip() or (out or "").strip()
    return text or "shriekc said nothing"


def place(finding):
    return "%s:%s" % (finding.get("file"), finding.get("line"))


def describe(finding):
    return "%s: %s [%s %s]" % (
        place(finding),
        finding.get("message"),
        finding.get("code"),
        finding.get("name"),
    )


def check(module, shriekc, src, result):
    """Runs the analysis; fails the task on error-level findings unless
    `force`. Check mode must predict the refusal that `apply` would make."""
    rc, out, err = module.run_command([shriekc, "check", "--format", "json", src])
    try:
        doc = json.loads(out)
    except ValueError:
        module.fail_json(msg="shriekc check failed: %s" % said(out, err), rc=rc, stderr=err, **result)
    findings = doc.get("findings", [])
    result["findings"] = findings
    # Suppressed findings (`# shriek: allow(...)`) are not listed.
    errors = [f for f in findings if f.get("severity") == "error"]
    shown = ("warning", "error") if module.params["force"] else ("warning",)
    for f in findings:
        if f.get("severity") in shown:
            module.warn(describe(f))
    if rc == 2:
        module.fail_json(
            msg="the policy is invalid: %s" % "; ".join(describe(f) for f in errors),
            rc=rc,
            **result
        )
    if errors and not module.params["force"]:
        module.fail_json(
            msg="refusing to apply: the policy has %d error-level finding(s): %s; "
            "fix them (see `shriekc check`), or set force=true"
            % (len(errors), "; ".join(describe(f) for f in errors)),
            rc=rc,
            **result
        )


def plan(module, shriekc, src, result):
    """The plan as JSON, and whether it has changes."""
    cmd = [shriekc, "plan", "--format", "json", "--detailed-exitcode"]
    cmd += shaping(module) + where(module) + [src]
    rc, out, err = module.run_command(cmd)
    if rc not in (PLAN_NO_CHANGES, PLAN_CHANGES):
        module.fail_json(msg="shriekc plan failed: %s" % said(out, err), rc=rc, stderr=err, **result)
    try:
        doc = json.loads(out)
    except ValueError:
        module.fail_json(msg="shriekc plan printed no JSON: %s" % said(out, err), rc=rc, **result)
    result["plan"] = doc
    result["summary"] = doc.get("summary")
    for note in doc.get("notes", []):
        module.warn(note)
    return rc == PLAN_CHANGES


def apply_cmd(module, shriekc, src):
    cmd = [shriekc, "apply"] + shaping(module) + where(module)
    if module.params["force"]:
        cmd.append("--force")
    return cmd


def apply_now(module, shriekc, src, result):
    rc, out, err = module.run_command(apply_cmd(module, shriekc, src) + [src])
    if rc != 0:
        module.fail_json(msg="shriekc apply failed: %s" % said(out, err), rc=rc, stderr=err, **result)
    first = out.strip().splitlines()[0] if out.strip() else ""
    result["applied"] = first
    # Someone else may have applied the same policy since the plan.
    result["changed"] = first != "no changes"
    result["msg"] = first or "applied"


def opened(line):
    """Whether a line of `apply`'s output is the one it writes once the
    transaction is in (or once it found nothing to send)."""
    return line.startswith("applied") or line.strip() == "no changes"


def apply_confirmed(module, shriekc, src, result):
    """Starts `apply --confirm N` in a session of its own, so that it
    outlives this module and the connection, and returns once the policy
    is in and the window is open. Its output, to the end of the window,
    goes to a log file on the host."""
    seconds = module.params["confirm"]
    fd, log = tempfile.mkstemp(prefix="shriek-confirm-", suffix=".log")
    os.close(fd)
    cmd = apply_cmd(module, shriekc, src) + ["--confirm", str(seconds), src]
    # One file in append mode for both streams: each line lands whole.
    with open(log, "ab") as out:
        child = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + APPLY_TIMEOUT_SECONDS
    while True:
        with open(log, "r") as f:
            text = f.read()
        first = next((line for line in text.splitlines(True) if opened(line) and line.endswith("\n")), None)
        if first is not None:
            break
        rc = child.poll()
        if rc is not None:
            module.fail_json(msg="shriekc apply --confirm failed: %s" % said("", text), rc=rc, **result)
        if time.monotonic() > deadline:
            # SIGTERM rolls the window back, if it opened.
            child.terminate()
            module.fail_json(
                msg="shriekc apply --confirm did not apply within %d s; stopped it" % APPLY_TIMEOUT_SECONDS,
                **result
            )
        time.sleep(0.05)
    first = first.strip()
    result["applied"] = first
    if first == "no changes":
        # Nothing went in, so there is nothing to keep a window open for.
        module.run_command([shriekc, "apply", "--confirm-pending"] + where(module))
        result["msg"] = "no changes"
        return
    result["changed"] = True
    result["pending"] = True
    result["confirm_log"] = log
    result["msg"] = (
        "%s; confirm within %d s (confirm_pending=true, or `shriekc apply --confirm-pending` "
        "on the host), or it is rolled back" % (first, seconds)
    )


def confirm_pending(module, shriekc, result):
    if module.check_mode:
        result["msg"] = "check mode: nothing confirmed"
        module.exit_json(**result)
    rc, out, err = module.run_command([shriekc, "apply", "--confirm-pending"] + where(module))
    if rc != 0:
        module.fail_json(msg=said(out, err), rc=rc, **result)
    result["changed"] = True
    result["msg"] = out.strip()
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[("src", "confirm_pending")],
        mutually_exclusive=[("confirm", "confirm_pending")],
    )
    result = dict(changed=False, pending=False)
    shriekc = binary(module)
    if module.params["confirm_pending"]:
        confirm_pending(module, shriekc, result)

    src = module.params["src"]
    if not os.path.isabs(src):
        module.fail_json(
            msg="src must be an absolute path on the managed host (it names the policy in its tables): %s"
            % src,
            **result
        )
    if not os.path.isfile(src):
        module.fail_json(msg="src %s is not a file on the managed host" % src, **result)
    confirm = module.params["confirm"]
    if confirm is not None and confirm < 1:
        module.fail_json(msg="confirm must be at least 1 second, not %d" % confirm, **result)

    check(module, shriekc, src, result)
    changes = plan(module, shriekc, src, result)
    if module._diff:
        # The text `shriekc plan` prints, from the same reading of the kernel.
        result["diff"] = dict(prepared=result["plan"].get("text", ""))
    if not changes:
        result["msg"] = "no changes"
        module.exit_json(**result)
    if module.check_mode:
        result["changed"] = True
        s = result["summary"] or {}
        result["msg"] = "would apply: %s to add, %s to change, %s to remove" % (
            s.get("add"),
            s.get("change"),
            s.get("remove"),
        )
        module.exit_json(**result)
    if confirm is None:
        apply_now(module, shriekc, src, result)
    else:
        apply_confirmed(module, shriekc, src, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
