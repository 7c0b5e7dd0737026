# Regenerate the R reference values in tests/golden/ from their inputs (see README.md here).
#
#   Rscript tests/golden/make_golden.R OUT_DIR      write the expected files into OUT_DIR
#   Rscript tests/golden/make_golden.R --check      write them into a temporary folder and
#                                                   compare with the committed files
#
# Inputs: survey_microdata.csv, meta_input.csv and metareg_in.csv beside this script; the
# (cases, n) pairs of the proportion intervals and the moderator grid of metareg_predict.csv are
# listed below. Needs R >= 4.2 with survey and metafor (Debian:
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

# Tolerance of the README: 1e-6 relative (absolute below 1e-12, where values are zero). The
# rma.mv fit of the meta-regression sits on a flat REML surface, where R's own optimizers agree
# to about 1e-5: its variance components are held to 1e-4 and its other values to 1e-5.
REL_TOL <- 1e-6
MV_REL_TOL <- 1e-5
MV_SIGMA2_REL_TOL <- 1e-4
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
# New moderator rows of metareg_predict.csv: every combination, age fastest, then diet, sex and
# definition (the dummies of metareg_in.csv follow from them).
PREDICT_GRID <- expand.grid(
  x_age10 = c(-3, 0, 3.5),
  diet = c("omnivore", "vegetarian", "vegan", "pescatarian"),
  sex = c("both", "female"),
  def = c("b12_lt148", "b12_lt221"),
  stringsAsFactors = FALSE
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

# --- meta-regression: escalc(PLO), rma with mods (z and Knapp-Hartung), rma.mv, predict, ranef
metareg_in <- read.csv(file.path(here, "metareg_in.csv"), stringsAsFactors = FALSE)
effects <- escalc(measure = "PLO", xi = cases, ni = n, data = metareg_in)
write_golden(data.frame(es_id = metareg_in$es_id, yi = as.numeric(effects$yi),
                        vi = as.numeric(effects$vi)), "metareg_effects.csv")

mods <- as.matrix(metareg_in[, grep("^x_", names(metareg_in))])
uni_fit <- rma(effects$yi, effects$vi, mods = mods, method = "REML")
knha_fit <- rma(effects$yi, effects$vi, mods = mods, method = "REML", test = "knha")
mv_fit <- rma.mv(effects$yi, effects$vi, mods = mods,
                 random = ~ 1 | region/country/study/es_id, data = metareg_in, method = "REML")

write_golden(data.frame(
  term = rownames(uni_fit$beta), uni_beta = as.numeric(uni_fit$beta), uni_se = uni_fit$se,
  knha_se = knha_fit$se, knha_ci_low = knha_fit$ci.lb, knha_ci_high = knha_fit$ci.ub,
  mv_beta = as.numeric(mv_fit$beta), mv_se = mv_fit$se, mv_ci_low = mv_fit$ci.lb,
  mv_ci_high = mv_fit$ci.ub
), "metareg_coef.csv")

fit_values <- c(
  uni_tau2 = uni_fit$tau2, uni_QE = uni_fit$QE, uni_QM = uni_fit$QM, uni_I2 = uni_fit$I2,
  uni_R2 = uni_fit$R2, uni_logLik = as.numeric(logLik(uni_fit)),
  knha_QM_F = knha_fit$QM, knha_dfs = knha_fit$dfs,
  mv_sigma2_region = mv_fit$sigma2[[1]], mv_sigma2_country = mv_fit$sigma2[[2]],
  mv_sigma2_study = mv_fit$sigma2[[3]], mv_sigma2_estimate = mv_fit$sigma2[[4]],
  mv_logLik = as.numeric(logLik(mv_fit)), mv_QE = mv_fit$QE, mv_QM = mv_fit$QM
)
write_golden(data.frame(quantity = names(fit_values), value = unname(fit_values)),
             "metareg_fit.csv")

new_mods <- cbind(
  x_age10 = PREDICT_GRID$x_age10,
  x_vegetarian = as.numeric(PREDICT_GRID$diet == "vegetarian"),
  x_vegan = as.numeric(PREDICT_GRID$diet == "vegan"),
  x_pescatarian = as.numeric(PREDICT_GRID$diet == "pescatarian"),
  x_female = as.numeric(PREDICT_GRID$sex == "female"),
  x_male = as.numeric(PREDICT_GRID$sex == "male"),
  x_def118 = as.numeric(PREDICT_GRID$def == "b12_lt118"),
  x_def221 = as.numeric(PREDICT_GRID$def == "b12_lt221")
)
stopifnot(identical(colnames(new_mods), colnames(mods)))
uni_pred <- predict(uni_fit, newmods = new_mods, transf = transf.ilogit)
mv_pred <- predict(mv_fit, newmods = new_mods, transf = transf.ilogit)
# The descriptors, then the model-matrix columns: x_age10 appears twice, as committed.
write_golden(data.frame(
  PREDICT_GRID, new_mods,
  uni_pred = uni_pred$pred, uni_ci_low = uni_pred$ci.lb, uni_ci_high = uni_pred$ci.ub,
  uni_pi_low = uni_pred$pi.lb, uni_pi_high = uni_pred$pi.ub,
  mv_pred = mv_pred$pred, mv_ci_low = mv_pred$ci.lb, mv_ci_high = mv_pred$ci.ub,
  mv_pi_low = mv_pred$pi.lb, mv_pi_high = mv_pred$pi.ub,
  check.names = FALSE
), "metareg_predict.csv")

blups <- ranef(mv_fit)
blup_rows <- function(level, component) {
  part <- blups[[component]]
  data.frame(level = level, id = rownames(part), blup = part$intrcpt, se = part$se)
}
write_golden(rbind(blup_rows("region", "region"), blup_rows("country", "region/country")),
             "metareg_ranef.csv")

# --- comparison with the committed files -----------------------------------------------------
GENERATED <- c("survey_expected_overall.csv", "survey_expected_by_age_diet.csv",
               "survey_expected_agestd_by_diet.csv", "proportion_ci_expected.csv",
               "meta_expected.csv", "metareg_effects.csv", "metareg_coef.csv",
               "metareg_fit.csv", "metareg_predict.csv", "metareg_ranef.csv")

# Relative tolerance of each value of a column (a vector when it depends on the row, as in the
# long metareg_fit.csv): values of the rma.mv fit get the looser ones of the README.
tolerance <- function(name, col, frame) {
  if (!startsWith(name, "metareg_")) return(REL_TOL)
  if (name == "metareg_ranef.csv") return(MV_REL_TOL)
  if (name == "metareg_fit.csv") {
    quantity <- frame$quantity
    return(ifelse(startsWith(quantity, "mv_sigma2_"), MV_SIGMA2_REL_TOL,
                  ifelse(startsWith(quantity, "mv_"), MV_REL_TOL, REL_TOL)))
  }
  if (startsWith(col, "mv_")) MV_REL_TOL else REL_TOL
}

compare <- function(name) {
  old <- read.csv(file.path(here, name), stringsAsFactors = FALSE)
  new <- read.csv(file.path(out_dir, name), stringsAsFactors = FALSE)
  # The raw headers too: read.csv renames a repeated column (metareg_predict.csv's x_age10).
  same_header <- identical(readLines(file.path(here, name), n = 1),
                           readLines(file.path(out_dir, name), n = 1))
  if (!same_header || !identical(dim(old), dim(new)) || !identical(names(old), names(new)))
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
    tol <- rep_len(tolerance(name, col, old), length(a))[!is.na(a)]
    labels <- if (is.character(old[[1]])) old[[1]][!is.na(a)] else NULL
    a <- a[!is.na(a)]
    b <- b[!is.na(b)]
    diff <- abs(a - b)
    scale <- pmax(abs(a), abs(b))
    rel <- ifelse(scale == 0, 0, diff / scale)
    ok <- ok && all(diff <= ABS_FLOOR | rel <= tol)
    if (length(rel) && max(rel) > max_rel) {
      worst <- col
      # Name the row in a long file such as metareg_fit.csv (quantity, value).
      if (name == "metareg_fit.csv") worst <- labels[[which.max(rel)]]
    }
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
  cat(sprintf(paste("regenerated into %s; tolerance %g relative (rma.mv of metareg_*:",
                    "%g, variance components %g)\n"),
              out_dir, REL_TOL, MV_REL_TOL, MV_SIGMA2_REL_TOL))
  if (!all(vapply(results, function(r) r$ok, logical(1)))) quit(status = 1)
} else {
  cat(sprintf("wrote %s into %s\n", paste(GENERATED, collapse = ", "), out_dir))
}
