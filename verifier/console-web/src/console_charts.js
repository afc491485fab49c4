// The console's charts, drawn with Apache ECharts from the tables the page carries (each
// figure.chart holds its data as a <table>; gateway/console_charts.py). SVG renderer: crisp,
// printable, no canvas fingerprinting surface. Only the modules used are bundled.
import { BarChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';

echarts.use([BarChart, GridComponent, LegendComponent, TooltipComponent, SVGRenderer]);

function tableData(table) {
  const series = [...table.querySelectorAll('thead th[data-series]')].map((th) => ({
    // The header's text is the series' name in the page's language; data-series its key.
    name: th.textContent || th.dataset.series, color: th.dataset.color || undefined,
  }));
  const labels = [];
  const values = series.map(() => []);
  for (const tr of table.querySelectorAll('tbody tr')) {
    labels.push(tr.querySelector('th').textContent);
    const cells = tr.querySelectorAll('td');
    series.forEach((_, i) => values[i].push(Number(cells[i].textContent)));
  }
  return { series, labels, values };
}

function draw(figure) {
  const table = figure.querySelector('table.chart-table');
  const target = figure.querySelector('.echart');
  if (!table || !target) return;
  const { series, labels, values } = tableData(table);
  const chart = echarts.init(target, null, { renderer: 'svg', height: 240 });
  chart.setOption({
    animation: false,
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 40, right: 10, top: 30, bottom: 30 },
    xAxis: { type: 'category', data: labels },
    yAxis: { type: 'value', minInterval: 1 },
    series: series.map((s, i) => ({
      name: s.name, type: 'bar', stack: 'all', data: values[i],
      itemStyle: s.color ? { color: s.color } : undefined,
    })),
  });
  figure.dataset.drawn = 'echarts';
  window.addEventListener('resize', () => chart.resize());
}

document.querySelectorAll('figure.chart').forEach(draw);
document.body.dataset.charts = 'drawn';
