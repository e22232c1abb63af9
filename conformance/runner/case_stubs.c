/* temporary: tables not yet written */
#include "cases.h"
const cf_case_table
                    cf_cases_chandoff = {NULL, 0}, cf_cases_creply = {NULL, 0},
                    cf_cases_ccoal = {NULL, 0};
