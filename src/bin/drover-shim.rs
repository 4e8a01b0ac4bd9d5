//! `drover-shim`: the per-task shim on its own, without the agent, server and API.
//!
//! One shim runs per task for the task's whole life, so its memory is multiplied by the
//! number of tasks on a node. In the full `drover` binary the loader dirties ~1.5 MiB of
//! relocated read-only data per process (the server's and API's tables and vtables); this
//! binary carries only the driver's runtime. The driver runs it as `drover-shim shim …`,
//! the same arguments `drover shim …` takes (which still works).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.as_slice() {
        [shim, verb, rest @ ..] if shim == "shim" && verb == "exec" => {
            drover_driver::runtime::exec::main(rest)
        }
        [shim, dir, ..] if shim == "shim" => {
            drover_driver::runtime::shim::main(std::path::Path::new(dir))
        }
        _ => {
            eprintln!("usage: drover-shim shim <state dir> | drover-shim shim exec …");
            2
        }
    };
    std::process::exit(code);
}
