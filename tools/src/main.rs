//! `soundproof-tools`: parses arguments and calls the library.
fn main() {
    println!("soundproof-tools: commands arrive with the training milestone");
}
