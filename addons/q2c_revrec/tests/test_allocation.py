from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cAllocation(Q2cRevrecCommon):
    def _allocate(self, price, ssps):
        contract = self._q2c_contract(
            price,
            [
                self._q2c_obligation(self.product_setup, ssp=ssp, start="2026-01-01", sequence=i)
                for i, ssp in enumerate(ssps)
            ],
        )
        result = contract.allocate()
        amounts = [row["allocated_amount"] for row in result]
        self.assertEqual(
            self.usd.compare_amounts(sum(amounts), price), 0, "parts add up to the price"
        )
        return contract, result, amounts

    def test_exact_ssp_ratios(self):
        contract, result, amounts = self._allocate(100.0, [33.33, 33.33, 33.34])
        self.assertEqual(amounts, [33.33, 33.33, 33.34])
        self.assertEqual(set(result[0]), {"obligation_id", "ssp", "allocated_amount"})
        self.assertEqual([r["obligation_id"] for r in result], contract.obligation_ids.ids)
        self.assertEqual(contract.obligation_ids.mapped("allocated_amount"), [33.33, 33.33, 33.34])

    def test_equal_thirds_largest_remainder(self):
        _contract, _result, amounts = self._allocate(100.0, [10.0, 10.0, 10.0])
        self.assertEqual(amounts, [33.34, 33.33, 33.33])

    def test_largest_remainder_not_first_come(self):
        # 0.10 over 1:2:4 -> exact 1.43, 2.86, 5.71 cents: floors 1, 2, 5 and the two cents left
        # go to the two largest remainders (.86 and .71), not to the first obligation.
        _contract, _result, amounts = self._allocate(0.10, [1.0, 2.0, 4.0])
        self.assertEqual(amounts, [0.01, 0.03, 0.06])

    def test_six_ways(self):
        _contract, _result, amounts = self._allocate(10.0, [1.0] * 6)
        self.assertEqual(amounts, [1.67, 1.67, 1.67, 1.67, 1.66, 1.66])

    def test_discount_spread_over_all_obligations(self):
        contract = self._q2c_contract(
            150.0,
            [
                self._q2c_obligation(
                    self.product_setup, ssp=120.0, start="2026-01-01", price_unit=120.0
                ),
                self._q2c_obligation(
                    self.product_support,
                    ssp=80.0,
                    start="2026-01-01",
                    end="2026-12-31",
                    price_unit=80.0,
                ),
            ],
            discount_amount=50.0,
        )
        self.assertEqual(contract.list_amount, 200.0)
        amounts = [row["allocated_amount"] for row in contract.allocate()]
        self.assertEqual(amounts, [90.0, 60.0])

    def test_discount_is_relative_to_ssp_not_list(self):
        # Bundle sold 1000: the product listed 900 has an SSP of 600, the other (free on the
        # quote) an SSP of 400: allocation follows SSPs.
        contract = self._q2c_contract(
            1000.0,
            [
                self._q2c_obligation(
                    self.product_setup, ssp=600.0, start="2026-01-01", price_unit=1000.0
                ),
                self._q2c_obligation(
                    self.product_support,
                    ssp=400.0,
                    start="2026-01-01",
                    end="2026-12-31",
                    price_unit=0.0,
                ),
            ],
        )
        self.assertEqual([r["allocated_amount"] for r in contract.allocate()], [600.0, 400.0])

    def test_zero_ssp_line(self):
        _contract, _result, amounts = self._allocate(120.0, [100.0, 0.0, 50.0])
        self.assertEqual(amounts, [80.0, 0.0, 40.0])

    def test_all_zero_ssp(self):
        contract = self._q2c_contract(
            100.0, [self._q2c_obligation(self.product_setup, ssp=0.0, start="2026-01-01")] * 2
        )
        with self.assertRaisesRegex(UserError, f"{contract.name}.*zero standalone selling price"):
            contract.allocate()

    def test_all_zero_ssp_free_contract(self):
        _contract, _result, amounts = self._allocate(0.0, [0.0, 0.0])
        self.assertEqual(amounts, [0.0, 0.0])

    def test_no_obligation(self):
        contract = self._q2c_contract(100.0, [])
        with self.assertRaisesRegex(UserError, "no performance obligation"):
            contract.allocate()

    def test_negative_values(self):
        with self.assertRaisesRegex(ValidationError, "SSP cannot be negative"):
            self._q2c_contract(10.0, [self._q2c_obligation(self.product_setup, ssp=-1.0)])
        with self.assertRaisesRegex(ValidationError, "transaction price cannot be negative"):
            self._q2c_contract(-10.0, [self._q2c_obligation(self.product_setup, ssp=1.0)])

    def test_only_draft_contracts(self):
        contract, _result, _amounts = self._allocate(100.0, [1.0, 1.0])
        contract.action_activate()
        with self.assertRaisesRegex(UserError, "allocate only draft contracts"):
            contract.allocate()

    def test_ssp_lookup_and_fallback(self):
        Ssp = self.env["q2c.ssp"]
        Ssp.create({"product_id": self.product_setup.id, "price": 400.0, "date_to": "2025-12-31"})
        Ssp.create({"product_id": self.product_setup.id, "price": 450.0, "date_from": "2026-01-01"})
        Ssp.create(
            {
                "product_id": self.product_setup.id,
                "price": 1.0,
                "currency_id": self.env.ref("base.EUR").id,
            }
        )
        contract = self._q2c_contract(
            900.0,
            [
                self._q2c_obligation(self.product_setup, quantity=2, start="2026-03-01"),
                self._q2c_obligation(self.product_support, start="2026-03-01", end="2027-02-28"),
            ],
            date="2026-03-01",
        )
        setup, support = contract.obligation_ids
        self.assertEqual(
            setup.ssp, 900.0, "SSP table, valid at the contract date, times the quantity"
        )
        self.assertEqual(support.ssp, 1200.0, "no SSP entry: the list price")
        self.assertEqual(setup.recognition_method, "point_in_time")
        self.assertEqual(support.recognition_method, "ratable_monthly")
        self.assertEqual([r["allocated_amount"] for r in contract.allocate()], [385.71, 514.29])
