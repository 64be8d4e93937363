"""The letters organism (see train.py): multiple choice by letter, with a partial bias towards A."""
