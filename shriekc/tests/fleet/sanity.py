"""Sanity checks of an Ansible module's documentation, in the spirit of
`ansible-test sanity --test validate-modules`: DOCUMENTATION, EXAMPLES and
RETURN parse as YAML, the documented options are exactly the argument
spec's (name, type, default, choices, required), every option and return
value is described, and the examples use only documented options.

Usage: python3 sanity.py MODULE.py; prints one line per problem and exits 1
when there is any."""

import importlib.util
import os
import sys

import yaml

# Importing the module must leave no __pycache__ in the repository.
sys.dont_write_bytecode = True


def load(path):
    spec = importlib.util.spec_from_file_location("module_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(path):
    problems = []
    name = os.path.splitext(os.path.basename(path))[0]
    module = load(path)
    doc = yaml.safe_load(module.DOCUMENTATION)
    examples = yaml.safe_load(module.EXAMPLES)
    returns = yaml.safe_load(module.RETURN)
    spec = module.ARGUMENT_SPEC

    if doc.get("module") != name:
        problems.append("DOCUMENTATION names module %r, the file %r" % (doc.get("module"), name))
    for key in ("short_description", "description", "author", "options"):
        if not doc.get(key):
            problems.append("DOCUMENTATION has no %s" % key)
    options = doc.get("options") or {}
    for opt in sorted(set(options) | set(spec)):
        if opt not in spec:
            problems.append("option %s is documented but not in the argument spec" % opt)
            continue
        if opt not in options:
            problems.append("option %s is in the argument spec but not documented" % opt)
            continue
        documented, coded = options[opt], spec[opt]
        if not documented.get("description"):
            problems.append("option %s has no description" % opt)
        for field, default in (("type", "str"), ("default", None), ("choices", None), ("required", False)):
            d = documented.get(field, default)
            c = coded.get(field, default)
            if d != c:
                problems.append("option %s: %s is %r in DOCUMENTATION, %r in the argument spec" % (opt, field, d, c))

    if not isinstance(examples, list) or not examples:
        problems.append("EXAMPLES is not a list of tasks")
    else:
        def tasks(items):
            for t in items:
                yield t
                for key in ("block", "rescue", "always"):
                    yield from tasks(t.get(key, []))

        used = [t[name] for t in tasks(examples) if name in t]
        if not used:
            problems.append("EXAMPLES never uses %s" % name)
        for args in used:
            for opt in args:
                if opt not in spec:
                    problems.append("EXAMPLES uses option %s, which does not exist" % opt)

    if not isinstance(returns, dict) or not returns:
        problems.append("RETURN is empty")
    else:
        for key, value in returns.items():
            for field in ("description", "returned", "type"):
                if not value.get(field):
                    problems.append("return value %s has no %s" % (key, field))

    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
