//! Statistics for certification: inverse normal CDF, regularized incomplete beta and its
//! inverse, Clopper-Pearson bounds. `no_std`, f64.
//! SKELETON: being written.
