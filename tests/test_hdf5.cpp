// The HDF5 wrapper's streaming side: appendable series, dimension scales, SWMR writing.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "helpers.hpp"
#include "io/hdf5.hpp"

using namespace normlab;
using Catch::Matchers::Contains;

TEST_CASE("hdf5: series grow by appended rows under SWMR, with dimension scales", "[hdf5]") {
  test::TempDir dir;
  const std::string path = dir / "series.h5";
  {
    h5::File f = h5::File::create(path, /*latest_format=*/true);
    f.create_series<long long>("step", 0, 4);
    f.create_series<double>("loss", 0, 4);
    f.create_series<float>("rms", 3, 4);
    f.write_strings("site", {"block0.attn.norm", "block0.mlp.norm", "norm_final"});
    f.make_dimension_scale("step", "step");
    f.make_dimension_scale("site", "site");
    for (const char* d : {"loss", "rms"}) f.attach_dimension_scale(d, "step", 0);
    f.attach_dimension_scale("rms", "site", 1);
    f.start_swmr_write();
    for (long long t = 0; t < 5; ++t) {
      f.append<long long>("step", std::vector<long long>{t * 10});
      f.append<double>("loss", std::vector<double>{1.0 / double(t + 1)});
      f.append<float>("rms", std::vector<float>{float(t), float(t) + 0.5f, float(t) + 0.25f});
      if (t == 2) f.flush();
    }
    CHECK_THROWS_WITH(f.append<float>("rms", std::vector<float>{1, 2}),
                      Contains("2 values are not whole rows of 3"));
  }
  h5::File f = h5::File::open(path);
  CHECK(f.shape("step") == h5::Shape{5});
  CHECK(f.shape("rms") == h5::Shape{5, 3});
  auto rms = f.read<float>("rms");
  CHECK(rms(4, 1) == 4.5f);
  CHECK(f.read<long long>("step")(3) == 30);
  CHECK(f.read<double>("loss")(1) == 0.5);
  // The HDF5 dimension-scale attributes netCDF-4 readers (xarray's h5netcdf engine) look for.
  CHECK(f.read_string_attribute("step", "CLASS") == "DIMENSION_SCALE");
  CHECK(f.read_string_attribute("site", "NAME") == "site");
  CHECK(f.has_attribute("rms", "DIMENSION_LIST"));
}
