// SPDX-License-Identifier: Apache-2.0
//
// The error-bound policies in one include: the interface a framework adapter calls
// (actzip::policy::policy), one fixed bound (policy::fixed), the gradient-aware
// controller (policy::adaptive) and the per-step byte budget (policy::budget).
// Host-only; see docs/POLICIES.md.
#pragma once

#include <actzip/policy/policy.hpp>
#include <actzip/policy/fixed.hpp>
#include <actzip/policy/adaptive.hpp>
#include <actzip/policy/budget.hpp>
