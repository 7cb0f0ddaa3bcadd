//! Audio sources and the streaming plumbing (feature `std`).
//! SKELETON: being written.
