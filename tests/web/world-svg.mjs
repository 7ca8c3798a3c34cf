// Writes src/http/ui/map/world.svg, the base map the web page draws areas on: Natural Earth's
// 1:110m land and country borders (public domain; world-atlas 2.0.2 on npm packs them as
// TopoJSON), drawn with d3-geo in the plate carrée projection the page uses (x = longitude, y = -latitude),
// to a tenth of a degree. Run from tests/web after `npm ci`:  node world-svg.mjs [--check]
// `--check` fails when the file differs from what this script makes (the browser suite runs it).
import { readFileSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { geoEquirectangular, geoPath } from "d3-geo";
import { feature, mesh } from "topojson-client";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "..", "src", "http", "ui", "map", "world.svg");
const world = JSON.parse(readFileSync(join(here, "node_modules", "world-atlas", "countries-110m.json"), "utf8"));

// d3-geo cuts what crosses the antimeridian; scale 180/π makes its x and -y plain degrees.
const projection = geoEquirectangular().scale(180 / Math.PI).translate([0, 0]).precision(0.1);
const draw = geoPath(projection).digits(1);
const land = draw(feature(world, world.objects.land));
const borders = draw(mesh(world, world.objects.countries, (a, b) => a !== b));
const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-180 -90 360 180" preserveAspectRatio="none">
<!-- Natural Earth 1:110m land and country borders (public domain), via world-atlas 2.0.2, drawn by d3-geo; made by tests/web/world-svg.mjs -->
<path d="${land}" fill="#e4e9ee" stroke="#9aa5b1" stroke-width=".15"/>
<path d="${borders}" fill="none" stroke="#b3bcc6" stroke-width=".12"/>
</svg>
`;
if (process.argv.includes("--check")) {
  if (readFileSync(target, "utf8") !== svg) {
    console.error(`${target} is not what world-svg.mjs makes: run node tests/web/world-svg.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(target, svg);
  console.log(`${target}: ${svg.length} bytes`);
}
