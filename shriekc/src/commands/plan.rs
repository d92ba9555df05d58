//! `shriekc plan`: what `apply` would change in the live tables.

use shriek_compiler::lower::{self, Strategy};

use super::{front, print_out, runtime_failure_doing, Doing, FINDINGS, INVALID, OK};

pub fn plan(file: &str, strategy: Strategy, detailed: bool, netns: Option<&str>) -> u8 {
    let invalid = if detailed { FINDINGS } else { INVALID };
    let Ok((frontend, policy)) = front(file) else { return invalid };
    let lowered = lower::lower(&policy, strategy);
    match shriek_runtime::plan(&lowered.ruleset, netns) {
        Ok(plan) => {
            print_out(&plan.to_string());
            if detailed && !plan.is_empty() {
                2
            } else {
                OK
            }
        }
        Err(err) => {
            let code = runtime_failure_doing(&err, &frontend.sources, Doing::Reading);
            // Under --detailed-exitcode, 2 means "changes", so errors are 1.
            if detailed {
                FINDINGS
            } else {
                code
            }
        }
    }
}
