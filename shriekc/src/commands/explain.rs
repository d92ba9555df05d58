//! `shriekc explain`: what a finding means, and the fix.

use shriek_compiler::analysis;

use super::{print_out, INVALID, OK};

pub fn explain(name: &str) -> u8 {
    match analysis::explain(name) {
        Some(text) => {
            print_out(text);
            OK
        }
        None => {
            let names = analysis::codes::CATALOGUE.codes;
            let nearest = shriek_grammar::diag::nearest(name, names.iter().map(|r| r.name));
            eprintln!("error: no finding is called `{}`", shriek_grammar::visible(name));
            match nearest {
                Some(n) => eprintln!("  help: did you mean `{n}`?"),
                None => {
                    let all: Vec<_> = names.iter().map(|r| r.name).collect();
                    eprintln!("  help: the findings are {}", all.join(", "));
                }
            }
            INVALID
        }
    }
}
