# Regenerate the R reference values in tests/golden/ from their inputs (see README.md here).
#
#   Rscript tests/golden/make_golden.R OUT_DIR      write the expected files into OUT_DIR
#   Rscript tests/golden/make_golden.R --check      write them into a temporary folder and
#                                                   compare with the committed files
#
# Inputs: survey_microdata.csv and meta_input.csv beside this script; the (cases, n) pairs of
# the proportion intervals are listed below. Needs R >= 4.2 with survey and metafor (Debian:
# r-base-core r-cran-survey r-cran-metafor). The Python test suite never runs R.

suppressPackageStartupMessages({
  library(survey)
  library(metafor)
})

args <- commandArgs(trailingOnly = TRUE)
file_arg <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/golden"
check <- identical(args, "--check")
if (!check && length(args) != 1) stop("usage: make_golden.R OUT_DIR | --check")
out_dir <- if (check) tempfile("golden-") else args[[1]]
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

# Tolerance of the README: 1e-6 relative (absolute below 1e-12, where values are zero).
REL_TOL <- 1e-6
ABS_FLOOR <- 1e-12
AGE_BREAKS <- c(-Inf, 19, 39, 59, 79, Inf)  # whole years: 0-19, 20-39, 40-59, 60-79, 80+
AGE_LABELS <- c("0-19", "20-39", "40-59", "60-79", "80+")
STANDARD <- c(0.30, 0.30, 0.22, 0.14, 0.04)  # age-standardization weights, README
DEFICIENT_BELOW <- 148  # serum B12, pmol/L
# (cases, n) of proportion_ci_expected.csv: small and large n, 0 and all cases.
PROPORTIONS <- data.frame(
  cases = c(0, 1, 5, 10, 0, 3, 52, 16, 1, 120, 999, 7),
  n = c(10, 10, 10, 10, 250, 250, 232, 231, 226, 689, 1000, 30)
)

write_golden <- function(frame, name) {
  write.csv(frame, file.path(out_dir, name), row.names = FALSE)
}

# --- survey: svydesign / svyby / svyciprop / svystandardize ----------------------------------
micro <- read.csv(file.path(here, "survey_microdata.csv"))
micro <- micro[!is.na(micro$serum_b12_pmol_l), ]
micro$deficient <- as.numeric(micro$serum_b12_pmol_l < DEFICIENT_BELOW)
micro$age_group <- cut(micro$age, AGE_BREAKS, labels = AGE_LABELS)
design <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = micro)

overall <- svymean(~deficient, design)
write_golden(data.frame(estimate = coef(overall)[[1]], se = SE(overall)[[1]],
                        df = degf(design)), "survey_expected_overall.csv")

# Korn-Graubard as NCHS reports it (Parker et al. 2017): effective n capped at n (n itself
# when p is 0 or 1), then Clopper-Pearson quantiles.
nchs_kg <- function(p, se, n, df) {
  n_eff <- if (p == 0 || p == 1) n else
    min(n, p * (1 - p) / se^2 * (qt(0.975, n - 1) / qt(0.975, df))^2)
  x <- p * n_eff
  c(if (x > 0) qbeta(0.025, x, n_eff - x + 1) else 0,
    if (x < n_eff) qbeta(0.975, x + 1, n_eff - x) else 1)
}

by_domain <- svyby(~deficient, ~age_group + diet_group, design, svymean)
rows <- list()
for (i in seq_len(nrow(by_domain))) {
  a <- as.character(by_domain$age_group[i])
  g <- as.character(by_domain$diet_group[i])
  inside <- micro$age_group == a & micro$diet_group == g
  members <- micro[inside, ]
  # Degrees of freedom of the domain: PSUs minus strata among those holding a member.
  df_domain <- nrow(unique(members[, c("stratum", "psu")])) - length(unique(members$stratum))
  domain <- subset(design, age_group == a & diet_group == g)
  logit <- svyciprop(~deficient, domain, method = "logit", df = df_domain)
  beta <- svyciprop(~deficient, domain, method = "beta", df = df_domain)
  p <- by_domain$deficient[i]
  se <- by_domain$se[i]
  kg <- nchs_kg(p, se, nrow(members), df_domain)
  rows[[i]] <- data.frame(
    age_group = a, diet_group = g, estimate = p, se = se,
    ci_logit_low = attr(logit, "ci")[[1]], ci_logit_high = attr(logit, "ci")[[2]],
    ci_beta_low = attr(beta, "ci")[[1]], ci_beta_high = attr(beta, "ci")[[2]],
    n = nrow(members), df = degf(design), df_domain = df_domain,
    ci_kg_low = kg[[1]], ci_kg_high = kg[[2]]
  )
}
by_age_diet <- do.call(rbind, rows)
by_age_diet <- by_age_diet[order(match(by_age_diet$age_group, AGE_LABELS),
                                 by_age_diet$diet_group), ]
write_golden(by_age_diet, "survey_expected_by_age_diet.csv")

standardized <- svystandardize(design, by = ~age_group, over = ~diet_group,
                               population = STANDARD)
agestd <- svyby(~deficient, ~diet_group, standardized, svymean)
write_golden(data.frame(diet_group = as.character(agestd$diet_group),
                        estimate = agestd$deficient, se = agestd$se),
             "survey_expected_agestd_by_diet.csv")

# --- proportion intervals: prop.test (Wilson, no continuity correction) and binom.test -------
ci <- t(mapply(function(x, n) {
  wilson <- suppressWarnings(prop.test(x, n, correct = FALSE)$conf.int)
  exact <- binom.test(x, n)$conf.int
  c(wilson[[1]], wilson[[2]], exact[[1]], exact[[2]])
}, PROPORTIONS$cases, PROPORTIONS$n))
write_golden(data.frame(PROPORTIONS, wilson_low = ci[, 1], wilson_high = ci[, 2],
                        cp_low = ci[, 3], cp_high = ci[, 4]),
             "proportion_ci_expected.csv")

# --- random-effects pooling: metafor rma(measure = "PLO"), DL and REML ----------------------
studies <- read.csv(file.path(here, "meta_input.csv"))
meta <- list()
for (group in unique(studies$group)) {
  part <- studies[studies$group == group, ]
  for (method in c("DL", "REML")) {
    fit <- rma(measure = "PLO", xi = cases, ni = n, data = part, method = method)
    pred <- predict(fit, transf = transf.ilogit)
    meta[[length(meta) + 1]] <- data.frame(
      group = group, method = method, k = fit$k, pooled = pred$pred,
      ci_low = pred$ci.lb, ci_high = pred$ci.ub, pi_low = pred$pi.lb, pi_high = pred$pi.ub,
      tau2 = fit$tau2, i2_pct = fit$I2, q = fit$QE, logit = as.numeric(fit$beta),
      logit_se = fit$se
    )
  }
}
write_golden(do.call(rbind, meta), "meta_expected.csv")

# --- comparison with the committed files -----------------------------------------------------
GENERATED <- c("survey_expected_overall.csv", "survey_expected_by_age_diet.csv",
               "survey_expected_agestd_by_diet.csv", "proportion_ci_expected.csv",
               "meta_expected.csv")

compare <- function(name) {
  old <- read.csv(file.path(here, name), stringsAsFactors = FALSE)
  new <- read.csv(file.path(out_dir, name), stringsAsFactors = FALSE)
  if (!identical(dim(old), dim(new)) || !identical(names(old), names(new)))
    return(list(name = name, ok = FALSE, abs = NA, rel = NA, note = "shape or columns differ"))
  max_abs <- 0
  max_rel <- 0
  worst <- ""
  ok <- TRUE
  for (col in names(old)) {
    a <- old[[col]]
    b <- new[[col]]
    if (!is.numeric(a)) {
      ok <- ok && identical(as.character(a), as.character(b))
      next
    }
    if (!identical(is.na(a), is.na(b))) {
      ok <- FALSE
      next
    }
    a <- a[!is.na(a)]
    b <- b[!is.na(b)]
    diff <- abs(a - b)
    scale <- pmax(abs(a), abs(b))
    rel <- ifelse(scale == 0, 0, diff / scale)
    ok <- ok && all(diff <= ABS_FLOOR | rel <= REL_TOL)
    if (length(rel) && max(rel) > max_rel) worst <- col
    max_abs <- max(max_abs, diff)
    max_rel <- max(max_rel, rel)
  }
  list(name = name, ok = ok, abs = max_abs, rel = max_rel,
       note = if (nzchar(worst)) paste0("(", worst, ")") else "")
}

if (check) {
  results <- lapply(GENERATED, compare)
  for (r in results) {
    cat(sprintf("%-38s %s  max abs diff %.3g  max rel diff %.3g %s\n", r$name,
                if (r$ok) "ok  " else "DIFF", r$abs, r$rel, r$note))
  }
  cat(sprintf("regenerated into %s; tolerance %g relative\n", out_dir, REL_TOL))
  if (!all(vapply(results, function(r) r$ok, logical(1)))) quit(status = 1)
} else {
  cat(sprintf("wrote %s into %s\n", paste(GENERATED, collapse = ", "), out_dir))
}
