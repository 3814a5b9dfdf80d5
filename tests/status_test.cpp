#include <gtest/gtest.h>

#include "ir/status.h"

TEST(Status, FormatsCodeAndMessage) {
  rowjit::Status s(rowjit::StatusCode::kInvalidArgument, "bad tensor 'x'");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.to_string(), "invalid argument: bad tensor 'x'");
}
